/*
 * verdant-ecoqos.exe PID on|off: Windows 11 Efficiency Mode for a process, as Task Manager sets it: EcoQoS
 * (SetProcessInformation with ProcessPowerThrottling, execution speed throttled) on or off. The engine worker runs
 * it for itself when it lowers its priority for background work, and again when work the user waits on raises it.
 * Built by scripts/package.mjs with MinGW-w64 into the win32-x64 package only. Exit codes: 0 done, 2 usage,
 * 3 the process could not be opened, 4 Windows refused (older than Windows 10 1709, or a stub as under Wine);
 * the reason goes to stderr.
 */
#define WIN32_LEAN_AND_MEAN
#define _WIN32_WINNT 0x0A00
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    char *end = NULL;
    unsigned long pid = argc == 3 ? strtoul(argv[1], &end, 10) : 0;
    int on = argc == 3 && strcmp(argv[2], "on") == 0;
    if (pid == 0 || end == NULL || *end != '\0' || (!on && strcmp(argv[2], "off") != 0)) {
        fprintf(stderr, "usage: verdant-ecoqos PID on|off\n");
        return 2;
    }
    HANDLE process = OpenProcess(PROCESS_SET_INFORMATION, FALSE, (DWORD)pid);
    if (process == NULL) {
        fprintf(stderr, "OpenProcess(%lu) failed: error %lu\n", pid, GetLastError());
        return 3;
    }
    PROCESS_POWER_THROTTLING_STATE state;
    ZeroMemory(&state, sizeof state);
    state.Version = PROCESS_POWER_THROTTLING_CURRENT_VERSION;
    state.ControlMask = PROCESS_POWER_THROTTLING_EXECUTION_SPEED;
    state.StateMask = on ? PROCESS_POWER_THROTTLING_EXECUTION_SPEED : 0;
    BOOL done = SetProcessInformation(process, ProcessPowerThrottling, &state, sizeof state);
    DWORD error = GetLastError();
    CloseHandle(process);
    if (!done) {
        fprintf(stderr, "SetProcessInformation(ProcessPowerThrottling) failed: error %lu\n", error);
        return 4;
    }
    return 0;
}
