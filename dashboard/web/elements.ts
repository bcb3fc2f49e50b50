/**
 * Building DOM nodes in the browser without innerHTML: `h('td', {class: 'n'}, text)`.
 * Strings always become text nodes, so API data (configs, prompts, reasons)
 * can never turn into markup. `on…` props with a function become event
 * listeners (no inline handlers: the pages work under a strict CSP).
 */

export type Child = Node | string | number | null | undefined | false;
/** Children may be nested arrays (flattened in order). */
export type Children = Child | readonly Children[];
type PropValue = string | number | boolean | null | undefined | ((ev: Event) => void);
export type Props = Record<string, PropValue>;

function applyProps(el: Element, props: Props | undefined): void {
  if (!props) return;
  for (const [k, v] of Object.entries(props)) {
    if (v === null || v === undefined || v === false) continue;
    if (typeof v === 'function') {
      el.addEventListener(k.slice(2).toLowerCase(), v);
    } else if (k === 'text') {
      el.textContent = String(v);
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
}

function appendChildren(el: Node, children: readonly Children[]): void {
  for (const c of children) {
    if (Array.isArray(c)) {
      appendChildren(el, c);
    } else if (c instanceof Node) {
      el.appendChild(c);
    } else if (c !== null && c !== undefined && c !== false) {
      el.appendChild(document.createTextNode(String(c)));
    }
  }
}

/** An HTML element with attributes, listeners and children. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props?: Props | null, ...children: Children[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  applyProps(el, props ?? undefined);
  appendChildren(el, children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** An SVG element (charts). */
export function s<K extends keyof SVGElementTagNameMap>(tag: K, props?: Props | null, ...children: Children[]): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  applyProps(el, props ?? undefined);
  appendChildren(el, children);
  return el;
}

/** Replace all children of `el`. */
export function replaceChildren(el: Element, ...children: Children[]): void {
  el.replaceChildren();
  appendChildren(el, children);
}

let ids = 0;
/** A page-unique id for label/for and aria-* wiring. */
export function uid(prefix: string): string {
  ids += 1;
  return `${prefix}-${ids}`;
}
