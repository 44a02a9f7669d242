/** The one line to show or log for anything thrown: an Error's message, anything else as String() writes it. */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
