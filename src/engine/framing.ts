// Newline-delimited JSON over a stream socket. Lines are capped so a broken or hostile peer cannot make the other
// side buffer without bound.
import type { Socket } from 'node:net';

export const MAX_LINE_BYTES = 16 * 2 ** 20;

export function writeMessage(socket: Socket, message: unknown): boolean {
  if (socket.destroyed || !socket.writable) return false;
  socket.write(JSON.stringify(message) + '\n');
  return true;
}

/** Calls onMessage for each complete JSON line; onError once for an over-long or unparsable line. */
export function readMessages(socket: Socket, onMessage: (message: unknown) => void, onError: (reason: string) => void): void {
  let buffer = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line.trim() === '') continue;
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        onError(`unparsable message: ${line.slice(0, 80)}`);
        continue;
      }
      onMessage(parsed);
    }
    if (buffer.length > MAX_LINE_BYTES) {
      buffer = '';
      onError(`message longer than ${MAX_LINE_BYTES} bytes`);
    }
  });
}
