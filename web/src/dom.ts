// A tiny element builder: h('div.class#id', {attrs, on*: handlers}, children).

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, unknown>;

/** The tag of a spec: `button.primary#send` → `button`. */
type TagOf<S extends string> = S extends `${infer T}.${string}`
  ? TagOf<T>
  : S extends `${infer T}#${string}`
    ? T
    : S;
type ElementOf<S extends string> = TagOf<S> extends keyof HTMLElementTagNameMap
  ? HTMLElementTagNameMap[TagOf<S>]
  : HTMLElement;

export function h<S extends string>(
  spec: S,
  attrs?: Attrs | Child | Child[],
  ...children: (Child | Child[])[]
): ElementOf<S> {
  const id = spec.match(/#([^.#]+)/)?.[1];
  const [tag, ...classes] = spec.replace(/#[^.#]+/, '').split('.');
  const el = document.createElement(tag) as ElementOf<S>;
  if (id) el.id = id;
  if (classes.length) el.className = classes.join(' ');
  if (attrs && typeof attrs === 'object' && !(attrs instanceof Node) && !Array.isArray(attrs)) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (key.startsWith('on') && typeof value === 'function') {
        el.addEventListener(key.slice(2).toLowerCase(), value as EventListener);
      } else if (key === 'value' && 'value' in el) {
        (el as unknown as HTMLInputElement).value = String(value);
      } else if (key === 'checked' && 'checked' in el) {
        (el as unknown as HTMLInputElement).checked = Boolean(value);
      } else if (key === 'class') {
        el.className = [el.className, String(value)].filter(Boolean).join(' ');
      } else {
        el.setAttribute(key, value === true ? '' : String(value));
      }
    }
  } else if (attrs !== undefined) {
    children.unshift(attrs as Child | Child[]);
  }
  append(el, children);
  return el;
}

export function append(el: Node, children: (Child | Child[])[]): void {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el: Element): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

/** A DICOM DA (`YYYYMMDD`) as `YYYY-MM-DD`. */
export function da(value: string | null | undefined): string {
  if (!value) return '';
  const m = value.match(/^(\d{4})(\d{2})(\d{2})$/);
  return m ? `${m[1]}-${m[2]}-${m[3]}` : value;
}

/** A DICOM PN (`FAMILY^GIVEN=ideographic`) for display. */
export function pn(value: string | null | undefined): string {
  if (!value) return '';
  const groups = value.split('=');
  const pick = groups.find((g) => g && /[^\x00-\x7f]/.test(g)) ?? groups[0];
  return pick.split('^').filter(Boolean).join(' ');
}

/** An RFC 3339 time in local form. */
export function time(value: string | null | undefined): string {
  if (!value) return '';
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? value : d.toLocaleString();
}
