/** Goes to a page (`#/worklist`, `#/study/UID`); re-renders when already there. */
export function navigate(hash: string): void {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = hash;
}
