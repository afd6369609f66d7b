/*! Odeon embed script: each <odeon-widget> becomes an iframe of Odeon's embed view.
 *   <script type="module" src="https://host/odeon/widget.js"></script>  (a classic script works too)
 *   <odeon-widget notebook="rectified-flow" cell="sample" profile="ci"></odeon-widget>
 * Attributes: notebook, cell, profile (ci|default|big), autorun, s (share-link
 * payload), src (Odeon's URL; default: this script's folder), height (px until
 * the first size report). The frame shows <src>#/embed/<notebook>/<cell>?...
 * and takes the height the embed view posts ({type:'odeon:size', height}).
 * Attribute changes re-render. No dependencies.
 */
(() => {
  if (!window.customElements || customElements.get('odeon-widget')) return;
  // This file's URL: currentScript (classic); in a module it is null and
  // import.meta would not parse classically, so the stack trace's first URL.
  const own = document.currentScript?.src ||
    (String(new Error().stack).match(/(?:https?|file):\/\/[^\s()]+?\.m?js(?=[?#:\s)]|$)/) || [])[0] ||
    location.href;
  const base = new URL('.', own).href;
  const ATTRS = ['notebook', 'cell', 'profile', 'autorun', 's', 'src', 'height'];

  class OdeonWidget extends HTMLElement {
    static get observedAttributes() { return ATTRS; }

    constructor() {
      super();
      this.onSize = (event) => {
        const data = event.data;
        if (this.frame && event.source === this.frame.contentWindow && data && data.type === 'odeon:size') {
          const h = Number(data.height);
          if (h > 0 && h < 1e5) this.frame.style.height = Math.ceil(h) + 'px';
        }
      };
    }

    connectedCallback() {
      addEventListener('message', this.onSize);
      if (!this.style.display) this.style.display = 'block';
      this.render();
    }

    disconnectedCallback() {
      removeEventListener('message', this.onSize);
    }

    attributeChangedCallback() {
      if (this.isConnected) this.render();
    }

    url() {
      const get = (name) => this.getAttribute(name);
      const query = new URLSearchParams();
      if (get('profile')) query.set('profile', get('profile'));
      if (this.hasAttribute('autorun') && get('autorun') !== 'false') query.set('autorun', '1');
      if (get('s')) query.set('s', get('s'));
      const url = new URL(get('src') || base, location.href);
      const q = query.toString();
      url.hash = `/embed/${encodeURIComponent(get('notebook') || '')}/${encodeURIComponent(get('cell') || '')}` +
        (q ? '?' + q : '');
      return url.href;
    }

    render() {
      const src = this.url();
      if (this.frame && this.frame.src === src) return;
      const frame = document.createElement('iframe');
      frame.src = src;
      frame.title = `Odeon: ${this.getAttribute('notebook') || 'notebook'}, cell ${this.getAttribute('cell') || ''}`.trim();
      frame.loading = 'lazy';
      frame.allow = 'cross-origin-isolated';
      frame.style.cssText = `display:block;width:100%;border:0;height:${parseInt(this.getAttribute('height'), 10) || 420}px`;
      this.frame = frame;
      this.replaceChildren(frame);
    }
  }

  customElements.define('odeon-widget', OdeonWidget);
})();
