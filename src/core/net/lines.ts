// Line splitting for the bodies of untrusted servers (event streams, NDJSON), shared by the cloud client and the
// local server backends.

/** Splits decoded text into lines on LF, CRLF or CR, even when a terminator or a line spans chunks. */
export class LineSplitter {
  private buffer = '';
  private afterCR = false;

  /** Feeds decoded text; returns the lines it completed, without their terminators. */
  push(text: string): string[] {
    const lines: string[] = [];
    let start = 0;
    // A CRLF split across two chunks: the LF ends nothing new.
    if (this.afterCR && text.startsWith('\n')) start = 1;
    this.afterCR = false;
    for (let i = start; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      lines.push(this.buffer + text.slice(start, i));
      this.buffer = '';
      if (c === 13) {
        if (i + 1 === text.length) this.afterCR = true;
        else if (text.charCodeAt(i + 1) === 10) i++;
      }
      start = i + 1;
    }
    this.buffer += text.slice(start);
    return lines;
  }

  /** Characters of the line not yet terminated (held until its end comes). */
  get pendingLength(): number {
    return this.buffer.length;
  }

  /** Ends the input: a last line without a terminator still counts. */
  end(): string[] {
    const rest = this.buffer;
    this.buffer = '';
    this.afterCR = false;
    return rest === '' ? [] : [rest];
  }
}
