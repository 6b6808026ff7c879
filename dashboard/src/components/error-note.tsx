/** A failure to show where it happened (announced to screen readers), or nothing. */
export function ErrorNote({ message }: { message: string | null }) {
  return message === null ? null : (
    <p class="error" role="alert">
      {message}
    </p>
  );
}
