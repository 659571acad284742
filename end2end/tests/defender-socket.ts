import { request } from 'node:http';
import { randomBytes } from 'node:crypto';
import { Duplex } from 'node:stream';

// A defender's end of the channel, by hand: the WebSocket upgrade with the token as
// `Authorization: Bearer` (which a browser's WebSocket cannot send), masked text frames out, the
// console's frames in. What the specs use to report what no real defender here would (alerts).

export class DefenderSocket {
  private buffer = Buffer.alloc(0);
  private fragments: Buffer[] = [];
  private messages: unknown[] = [];
  private waiting: ((message: unknown) => void)[] = [];
  private heartbeats?: NodeJS.Timeout;
  closed = false;

  private constructor(private socket: Duplex) {
    socket.on('data', (chunk: Buffer) => this.received(chunk));
    socket.on('close', () => { this.closed = true; this.stopHeartbeats(); });
    socket.on('error', () => { this.closed = true; });
  }

  /** Opens the channel at `defenderUrl` (http://host:port) with a family's token. */
  static open(defenderUrl: string, token: string): Promise<DefenderSocket> {
    const url = new URL('/api/v1/defenders/connect', defenderUrl);
    return new Promise((resolve, reject) => {
      const upgrade = request(url, {
        headers: {
          Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13',
          'Sec-WebSocket-Key': randomBytes(16).toString('base64'), Authorization: `Bearer ${token}`,
        },
      });
      upgrade.on('upgrade', (_response, socket, head) => {
        const opened = new DefenderSocket(socket);
        if (head.length > 0) opened.received(head);
        resolve(opened);
      });
      upgrade.on('response', (response) => reject(new Error(`the console answered ${response.statusCode}, not an upgrade`)));
      upgrade.on('error', reject);
      upgrade.end();
    });
  }

  /** Sends `message` as JSON text (a client's frames are masked). */
  send(message: unknown): void {
    this.frame(0x1, Buffer.from(JSON.stringify(message)));
  }

  /** The next text message, as JSON (10 s at most). */
  next(): Promise<any> {
    const ready = this.messages.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no message from the console within 10 s')), 10_000);
      this.waiting.push((message) => { clearTimeout(timer); resolve(message); });
    });
  }

  /** Heartbeats every `ms`, as a defender sends them, until closed. */
  startHeartbeats(ms: number): void {
    this.heartbeats = setInterval(() => {
      if (!this.closed) this.send({ type: 'heartbeat', process_count: 3, dropped_events: 0 });
    }, ms);
  }

  /** Closes the channel with `code` (1001: the task is stopping). */
  close(code: number): void {
    this.stopHeartbeats();
    const payload = Buffer.alloc(2);
    payload.writeUInt16BE(code);
    this.frame(0x8, payload);
    this.socket.end();
  }

  private stopHeartbeats(): void {
    if (this.heartbeats) clearInterval(this.heartbeats);
  }

  private frame(opcode: number, payload: Buffer): void {
    if (this.closed) return;
    const mask = randomBytes(4);
    const length = payload.length;
    const header = length < 126 ? Buffer.from([0x80 | opcode, 0x80 | length])
      : length < 65536 ? Buffer.from([0x80 | opcode, 0x80 | 126, length >> 8, length & 0xff])
        : (() => { const h = Buffer.alloc(10); h[0] = 0x80 | opcode; h[1] = 0x80 | 127; h.writeBigUInt64BE(BigInt(length), 2); return h; })();
    const masked = Buffer.from(payload.map((byte, index) => byte ^ mask[index % 4]));
    this.socket.write(Buffer.concat([header, mask, masked]));
  }

  private received(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    for (;;) {
      if (this.buffer.length < 2) return;
      const fin = (this.buffer[0] & 0x80) !== 0;
      const opcode = this.buffer[0] & 0x0f;
      let length = this.buffer[1] & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (this.buffer.length < 4) return;
        length = this.buffer.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (this.buffer.length < 10) return;
        length = Number(this.buffer.readBigUInt64BE(2));
        offset = 10;
      }
      if (this.buffer.length < offset + length) return;
      const payload = this.buffer.subarray(offset, offset + length);
      this.buffer = this.buffer.subarray(offset + length);
      if (opcode === 0x9) this.frame(0xa, Buffer.from(payload));
      if (opcode === 0x8) { this.closed = true; this.socket.end(); return; }
      if (opcode === 0x1 || opcode === 0x0) {
        this.fragments.push(Buffer.from(payload));
        if (fin) {
          const text = Buffer.concat(this.fragments).toString('utf8');
          this.fragments = [];
          const message = JSON.parse(text);
          const waiter = this.waiting.shift();
          if (waiter) waiter(message); else this.messages.push(message);
        }
      }
    }
  }
}
