// Engine worker process entry (forked with an IPC channel; under desktop VS Code that is the Electron binary with
// ELECTRON_RUN_AS_NODE=1). Native inference code runs here, never in the extension host. This first version
// answers the versioned handshake and shuts down cleanly; inference requests are added on top of this protocol.
import { isClientMessage, PROTOCOL_VERSION, type WorkerMessage } from './protocol';
import { VERSION } from '../core/version';

function send(message: WorkerMessage): void {
  process.send?.(message);
}

if (!process.send) {
  console.error('verdant engine worker: start me with an IPC channel (child_process.fork), not from a shell.');
  process.exit(2);
}

process.on('message', (message: unknown) => {
  if (!isClientMessage(message)) {
    send({ type: 'error', message: `unknown message ${JSON.stringify(message)?.slice(0, 200)}` });
    return;
  }
  switch (message.type) {
    case 'hello':
      if (message.protocol !== PROTOCOL_VERSION) {
        send({ type: 'error', message: `protocol ${message.protocol} is not supported by worker ${VERSION} (speaks ${PROTOCOL_VERSION}); reload the window` });
        return;
      }
      send({ type: 'hello', protocol: PROTOCOL_VERSION, version: VERSION, pid: process.pid, node: process.versions.node });
      return;
    case 'shutdown':
      process.disconnect?.();
      return;
  }
});
// The parent went away (window closed or crashed): exit instead of lingering.
process.on('disconnect', () => process.exit(0));
