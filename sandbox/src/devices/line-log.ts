/** Output lines of a device, with a way to wait for a line that matches. */
export class LineLog {
  public readonly lines: string[] = [];
  private waiters: (() => void)[] = [];

  /** `name` identifies the device in timeout errors. */
  constructor(private readonly name: () => string) {}

  public push(line: string): void {
    this.lines.push(line);
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  /** Waits for a line that matches, from index `from` of `lines` on. */
  public waitFor(pattern: RegExp, timeoutMs = 20_000, from = 0): Promise<string> {
    return new Promise((resolveLine, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`${this.name()} printed no line matching ${pattern} within ${timeoutMs} ms. Last lines:\n${this.lines.slice(-15).join('\n')}`));
      }, timeoutMs);
      const check = () => {
        const line = this.lines.slice(from).find((candidate) => pattern.test(candidate));
        if (line !== undefined) {
          clearTimeout(timer);
          resolveLine(line);
        } else {
          this.waiters.push(check);
        }
      };
      check();
    });
  }
}
