/*
 * v2client verification SDK: shows the verification portal in a modal over your page.
 *
 * Usage (create the verification on your server first, with your API key; never put the
 * key in a browser):
 *
 *   <link rel="stylesheet" href="https://verify.example.com/modal.css">
 *   <script src="https://verify.example.com/verification-sdk.js"></script>
 *   <script>
 *     const sdk = new VerificationSDK({
 *       baseUrl: 'https://verify.example.com',
 *       onSuccess: (e) => console.log('verified', e.verificationId),
 *       onNeedsReview: (e) => console.log('under review', e.verificationId),
 *       onError: (e) => console.log('failed', e.status),
 *       onClose: (e) => console.log('closed'),
 *       onRetryRequested: (e) => { ask your server for a new verification, open it },
 *     });
 *     sdk.openWithVerificationId(verificationIdFromYourServer);
 *     // sdk.forceClose(); closes it without calling onClose.
 *   </script>
 *
 * Every callback receives {type, verificationId, status}. The portal only lets itself be
 * framed by, and only posts messages to, the origins allowed for your API key; messages
 * from anywhere but baseUrl's origin are ignored.
 */
(function (global) {
  'use strict';

  const HANDLERS = {
    success: 'onSuccess',
    needs_review: 'onNeedsReview',
    error: 'onError',
    close: 'onClose',
    retry_requested: 'onRetryRequested',
  };

  class VerificationSDK {
    constructor(options) {
      const o = options || {};
      if (!o.baseUrl) throw new Error('VerificationSDK: baseUrl is required');
      this.baseUrl = String(o.baseUrl).replace(/\/+$/, '');
      this.origin = new URL(this.baseUrl).origin;
      this.lang = o.lang || '';
      this.callbacks = {};
      Object.keys(HANDLERS).forEach((type) => {
        const name = HANDLERS[type];
        if (typeof o[name] === 'function') this.callbacks[name] = o[name];
      });
      this.overlay = null;
      this.iframe = null;
      this.closeButton = null;
      this.verificationId = null;
      this.previousFocus = null;
      this.inerted = [];
      this.onMessage = this.onMessage.bind(this);
      this.onKeydown = this.onKeydown.bind(this);
      this.onFocusIn = this.onFocusIn.bind(this);
    }

    /** Open the portal for a verification created by your server. */
    openWithVerificationId(verificationId) {
      if (!verificationId) throw new Error('VerificationSDK: a verification id is required');
      this.close(false);
      this.verificationId = String(verificationId);
      this.previousFocus = document.activeElement;

      const url = new URL(this.baseUrl + '/verify');
      url.searchParams.set('verification_id', this.verificationId);
      url.searchParams.set('embed', '1');
      url.searchParams.set('parent_origin', global.location.origin);
      if (this.lang) url.searchParams.set('lang', this.lang);

      const overlay = document.createElement('div');
      overlay.className = 'v2c-overlay';
      const dialog = document.createElement('div');
      dialog.className = 'v2c-modal';
      dialog.setAttribute('role', 'dialog');
      dialog.setAttribute('aria-modal', 'true');
      dialog.setAttribute('aria-label', 'Identity verification');
      const bar = document.createElement('div');
      bar.className = 'v2c-bar';
      const close = document.createElement('button');
      close.type = 'button';
      close.className = 'v2c-close';
      close.setAttribute('aria-label', 'Close');
      close.textContent = '\u00d7';
      close.addEventListener('click', () => this.close(true));
      const iframe = document.createElement('iframe');
      iframe.className = 'v2c-frame';
      iframe.title = 'Identity verification';
      iframe.allow = 'camera';
      iframe.referrerPolicy = 'no-referrer';
      iframe.src = url.href;
      bar.append(close);
      dialog.append(bar, iframe);
      overlay.append(dialog);

      // Everything else on the page is out of reach while the modal is open.
      Array.prototype.forEach.call(document.body.children, (el) => {
        if (!el.inert) {
          el.inert = true;
          this.inerted.push(el);
        }
      });
      document.body.append(overlay);
      document.documentElement.classList.add('v2c-open');
      this.overlay = overlay;
      this.iframe = iframe;
      this.closeButton = close;
      global.addEventListener('message', this.onMessage);
      document.addEventListener('keydown', this.onKeydown, true);
      document.addEventListener('focusin', this.onFocusIn, true);
      iframe.focus();
    }

    /** Close the modal without calling onClose. */
    forceClose() {
      this.close(false);
    }

    close(notify) {
      if (!this.overlay) return;
      const detail = { type: 'close', verificationId: this.verificationId, status: null };
      global.removeEventListener('message', this.onMessage);
      document.removeEventListener('keydown', this.onKeydown, true);
      document.removeEventListener('focusin', this.onFocusIn, true);
      this.overlay.remove();
      this.overlay = null;
      this.iframe = null;
      this.closeButton = null;
      this.inerted.forEach((el) => {
        el.inert = false;
      });
      this.inerted = [];
      document.documentElement.classList.remove('v2c-open');
      if (this.previousFocus && typeof this.previousFocus.focus === 'function') {
        this.previousFocus.focus();
      }
      this.previousFocus = null;
      if (notify) this.emit('onClose', detail);
    }

    emit(name, detail) {
      const fn = this.callbacks[name];
      if (!fn) return;
      try {
        fn(detail);
      } catch (e) {
        setTimeout(() => {
          throw e;
        });
      }
    }

    onMessage(event) {
      if (event.origin !== this.origin) return;
      if (!this.iframe || event.source !== this.iframe.contentWindow) return;
      const d = event.data;
      if (!d || typeof d !== 'object' || d.source !== 'v2client') return;
      if (d.verificationId && d.verificationId !== this.verificationId) return;
      const name = HANDLERS[d.type];
      if (!name) return;
      const detail = { type: d.type, verificationId: this.verificationId, status: d.status || null };
      if (d.type === 'close') {
        this.close(true);
        return;
      }
      this.emit(name, detail);
      if (d.type === 'success') this.close(false);
    }

    onKeydown(event) {
      if (!this.overlay) return;
      if (event.key === 'Escape') {
        event.preventDefault();
        this.close(true);
        return;
      }
      if (event.key === 'Tab') {
        // Two stops: the close button and the portal frame.
        const active = document.activeElement;
        if (active !== this.closeButton && active !== this.iframe) return;
        event.preventDefault();
        (active === this.closeButton ? this.iframe : this.closeButton).focus();
      }
    }

    onFocusIn(event) {
      if (this.overlay && !this.overlay.contains(event.target)) this.closeButton.focus();
    }
  }

  global.VerificationSDK = VerificationSDK;
  if (typeof module === 'object' && module && module.exports) module.exports = VerificationSDK;
})(typeof window !== 'undefined' ? window : this);
