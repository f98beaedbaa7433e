/*
 * The verification portal's page script. No framework, no build step.
 *
 * The server renders every step as a hidden <section> in the user's language and passes
 * what the script needs in data-* attributes on #portal. The script asks the portal API
 * (/api/portal/{id}) where the verification stands and shows that step, so a reload
 * resumes where the user was. Photos are taken with the camera (getUserMedia) or chosen
 * as files, scaled down in a canvas and uploaded as JPEG.
 */
(function () {
  'use strict';

  const root = document.getElementById('portal');
  if (!root) return;
  const data = root.dataset;
  const id = data.verificationId || '';
  const embed = data.embed === '1';
  const parentOrigin = data.parentOrigin || '';
  // A test verification: placeholders instead of photos, and an outcome to pick.
  const testMode = data.test === '1';

  const FINAL = ['verified', 'needs_manual_review', 'rejected', 'expired'];
  const POLL_MS = 2500;
  const LIVENESS_FRAMES = 5;
  const LIVENESS_SPAN_MS = 2000;
  const PROCESSING_PATIENCE_MS = 15000;

  /* ---- Talking to the SDK's modal (embed=1) ---- */

  let lastPosted = '';

  function post(type, status) {
    // Only to the origin the server vouched for; never to '*'.
    if (!embed || !parentOrigin || window.parent === window) return;
    const key = type + ':' + status;
    if (key === lastPosted) return;
    lastPosted = key;
    window.parent.postMessage(
      { source: 'v2client', type: type, verificationId: id, status: status },
      parentOrigin
    );
  }

  function eventFor(status) {
    if (status === 'verified') return 'success';
    if (status === 'needs_manual_review' || status === 'processing') return 'needs_review';
    return 'error';
  }

  let knownStatus = data.status || '';
  const closeButton = document.getElementById('close-button');
  if (closeButton) {
    closeButton.addEventListener('click', function () {
      lastPosted = '';
      post('close', knownStatus);
    });
  }

  if (embed) {
    // Escape inside the frame closes the modal, as it does outside it.
    document.addEventListener('keydown', function (ev) {
      if (ev.key !== 'Escape') return;
      lastPosted = '';
      post('close', knownStatus);
    });
  }

  if (data.page === 'status') {
    // Expired or already decided: tell the SDK, nothing else to do.
    if (knownStatus) post(eventFor(knownStatus), knownStatus);
    return;
  }
  if (data.page !== 'flow') return;

  /* ---- Page plumbing ---- */

  let messages = {};
  try {
    messages = JSON.parse(data.messages || '{}');
  } catch (e) {
    messages = {};
  }
  const ui = messages.ui || {};
  const reasons = messages.reasons || {};
  const lang = messages.lang || document.documentElement.lang || 'en';
  const documentMax = Number(data.documentMaxSide) || 2000;
  const selfieMax = Number(data.selfieMaxSide) || 1024;
  const api = '/api/portal/' + encodeURIComponent(id);
  const hasCamera = !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);

  const statusEl = document.getElementById('status');
  const problemEl = document.getElementById('problem');
  const stepsEl = document.getElementById('steps');

  let state = null;
  let currentSection = null;
  let chosenType = '';
  let pollTimer = 0;
  let processingSince = 0;
  let redirecting = false;

  function fmt(text, vars) {
    return String(text || '').replace(/\{(\w+)\}/g, function (m, k) {
      return k in vars ? String(vars[k]) : m;
    });
  }

  function say(text) {
    statusEl.textContent = text || '';
  }

  function codeOf(reason) {
    if (typeof reason === 'string') return reason;
    return (reason && reason.code) || 'GENERIC';
  }

  function reasonText(code) {
    return reasons[code] || reasons.GENERIC || '';
  }

  function clearProblems() {
    problemEl.replaceChildren();
  }

  /** List what to fix (one line per distinct reason) and the attempts left. */
  function showProblems(list, attemptsLeft) {
    clearProblems();
    const codes = [];
    (list || []).forEach(function (r) {
      const c = codeOf(r);
      if (codes.indexOf(c) < 0) codes.push(c);
    });
    if (!codes.length) codes.push('GENERIC');
    const ul = document.createElement('ul');
    codes.forEach(function (c) {
      const li = document.createElement('li');
      li.textContent = reasonText(c);
      ul.append(li);
    });
    problemEl.append(ul);
    if (typeof attemptsLeft === 'number') {
      const p = document.createElement('p');
      p.className = 'attempts';
      p.textContent = fmt(ui.attempts_left, { n: attemptsLeft });
      problemEl.append(p);
    }
  }

  function showProblemText(text) {
    clearProblems();
    const p = document.createElement('p');
    p.textContent = text;
    problemEl.append(p);
  }

  /** Show one step's section, stop any camera, move focus to its heading. */
  function show(sectionId) {
    const section = document.getElementById(sectionId);
    if (!section) return null;
    if (section !== currentSection) {
      stopCamera();
      clearProblems();
      say('');
      document.querySelectorAll('section.step').forEach(function (s) {
        s.hidden = s !== section;
      });
      currentSection = section;
      const heading = section.querySelector('h2');
      if (heading) heading.focus();
    }
    return section;
  }

  function busy(section, on) {
    section.setAttribute('aria-busy', on ? 'true' : 'false');
    section.querySelectorAll('button, input, select').forEach(function (el) {
      el.disabled = on;
    });
  }

  /** The module a `current_step` belongs to, as the progress indicator names them. */
  function moduleOf(step) {
    if (step && step.indexOf('document') === 0) return 'document';
    return step || '';
  }

  function stepLabel(module) {
    const li = stepsEl.querySelector('[data-step="' + module + '"]');
    return li ? li.textContent.trim() : module;
  }

  function markProgress(st, finished) {
    const items = Array.prototype.slice.call(stepsEl.children);
    const current = finished ? 'done' : moduleOf(st.current_step);
    let index = items.findIndex(function (li) {
      return li.dataset.step === current;
    });
    if (index < 0) index = 0;
    items.forEach(function (li, i) {
      const progress = st.progress ? st.progress[li.dataset.step] : undefined;
      // At the end, a step the flow never reached (after a failure) is not complete.
      const reached = !finished || progress === undefined || progress === 'completed';
      li.className =
        progress === 'failed' ? 'failed' : i < index ? (reached ? 'complete' : '') : i === index ? 'current' : '';
      if (i === index) li.setAttribute('aria-current', 'step');
      else li.removeAttribute('aria-current');
    });
  }

  /* ---- The portal API ---- */

  function PortalError(code, httpStatus) {
    this.code = code;
    this.httpStatus = httpStatus || 0;
  }

  /* ---- Test mode ---- */

  // The outcome picked in the test banner, sent with every step's submission; the last
  // step's pick decides.
  function testOutcome() {
    const select = document.getElementById('test-outcome');
    return testMode && select ? select.value : '';
  }

  function withTestOutcome(path, body) {
    const picked = testOutcome();
    if (!picked || !/^\/(document\/|liveness|form)/.test(path)) return body;
    if (body instanceof FormData) {
      body.append('test_outcome', picked);
      return body;
    }
    return Object.assign({}, body, { test_outcome: picked });
  }

  // A striped JPEG saying what it stands for.
  function placeholderBlob(label) {
    const canvas = document.createElement('canvas');
    canvas.width = 640;
    canvas.height = 400;
    const g = canvas.getContext('2d');
    for (let i = -400; i < 640; i += 40) {
      g.fillStyle = (i / 40) % 2 === 0 ? '#ecece4' : '#fad678';
      g.beginPath();
      g.moveTo(i, 0);
      g.lineTo(i + 40, 0);
      g.lineTo(i + 440, 400);
      g.lineTo(i + 400, 400);
      g.fill();
    }
    g.fillStyle = '#fff';
    g.fillRect(30, 120, 580, 160);
    g.fillStyle = '#222';
    g.textAlign = 'center';
    g.font = 'bold 72px sans-serif';
    g.fillText('TEST', 320, 210);
    g.font = '28px sans-serif';
    g.fillText(label, 320, 255);
    return new Promise(function (resolve, reject) {
      canvas.toBlob(function (blob) {
        if (blob) resolve(blob);
        else reject(new Error('placeholder'));
      }, 'image/jpeg', 0.8);
    });
  }

  async function call(method, path, body) {
    if (method === 'POST' && body !== undefined) body = withTestOutcome(path, body);
    const opts = { method: method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (body instanceof FormData) {
      opts.body = body;
    } else if (body !== undefined) {
      opts.body = JSON.stringify(body);
      opts.headers['Content-Type'] = 'application/json';
    }
    let res;
    try {
      res = await fetch(api + path, opts);
    } catch (e) {
      throw new PortalError('NETWORK');
    }
    let json = null;
    try {
      json = await res.json();
    } catch (e) {
      json = null;
    }
    if (!res.ok) throw new PortalError((json && json.code) || 'HTTP_' + res.status, res.status);
    return json || {};
  }

  function handleError(err) {
    const code = err && err.code;
    switch (code) {
      case 'NETWORK':
        showProblemText(ui.network_error);
        break;
      case 'VERIFICATION_EXPIRED':
        showResult('expired');
        break;
      case 'VERIFICATION_NOT_FOUND':
        stopPolling();
        show('step-done');
        document.getElementById('result-title').textContent = ui.not_found_title;
        document.getElementById('result-body').textContent = '';
        break;
      case 'INVALID_STEP':
        // Another tab or device moved on: show where things stand now.
        refresh();
        break;
      case 'PAYLOAD_TOO_LARGE':
        showProblems(['IMAGE_TOO_LARGE']);
        break;
      case 'UNSUPPORTED_MEDIA_TYPE':
        showProblems(['UNSUPPORTED_FORMAT']);
        break;
      default:
        showProblems(['GENERIC']);
    }
    say('');
  }

  async function refresh() {
    try {
      state = await call('GET', '');
    } catch (e) {
      handleError(e);
      return null;
    }
    render();
    return state;
  }

  /* ---- Choosing what to show ---- */

  function anyFailed(st) {
    return Object.keys(st.progress || {}).some(function (k) {
      return st.progress[k] === 'failed';
    });
  }

  function render() {
    const st = state;
    knownStatus = st.status;
    if (FINAL.indexOf(st.status) >= 0 || st.status === 'processing' || st.current_step === 'done') {
      showResult(st.status === 'in_progress' ? 'processing' : st.status);
      return;
    }
    if (anyFailed(st)) {
      showResult('rejected');
      return;
    }
    markProgress(st, false);
    showStep(st.current_step);
    const last = st.last_rejection;
    if (last && last.step === st.current_step && !problemEl.childElementCount) {
      const left = st.attempts_left ? st.attempts_left[st.current_step] : undefined;
      showProblems(last.reasons, left);
    }
  }

  function showStep(step) {
    const st = state;
    if (step === 'document_front') {
      const types = st.document_types || [];
      chosenType = st.document_type || chosenType || (types.length === 1 ? types[0] : '');
      if (!chosenType) {
        show('step-document_type');
        return;
      }
    }
    if (step === 'document_back') chosenType = st.document_type || chosenType;
    if (step === 'form_data') prefillForm(st);
    if (step === 'liveness') {
      const challenge = document.getElementById('challenge');
      if (challenge) {
        challenge.textContent = st.liveness_challenge === 'farther' ? ui.liveness_farther : ui.liveness_closer;
      }
    }
    if (!show('step-' + step)) showProblems(['GENERIC']);
  }

  function resultKind(status) {
    if (status === 'verified') return 'verified';
    if (status === 'needs_manual_review' || status === 'processing') return 'review';
    if (status === 'expired') return 'expired';
    return 'rejected';
  }

  function showResult(status) {
    knownStatus = status;
    const section = show('step-done');
    if (state) markProgress(state, true);
    const kind = resultKind(status);
    section.dataset.result = kind;
    document.getElementById('result-title').textContent = ui[kind + '_title'] || '';
    document.getElementById('result-body').textContent = ui[kind + '_body'] || '';
    const retry = document.getElementById('retry-button');
    if (retry) retry.hidden = kind !== 'rejected' && kind !== 'expired';
    if (kind === 'rejected' && state && state.last_rejection) showProblems(state.last_rejection.reasons);

    if (status === 'processing') {
      // The decision is moments away: wait for it, but not forever.
      if (!processingSince) processingSince = Date.now();
      if (Date.now() - processingSince < PROCESSING_PATIENCE_MS) {
        startPolling();
        return;
      }
    }
    stopPolling();
    post(eventFor(status), status);
    if (!embed && state && state.return_url && kind !== 'expired') countdownTo(state.return_url, status);
  }

  /** Count down three seconds, then go to the operator's return_url. */
  function countdownTo(url, status) {
    if (redirecting) return;
    let target;
    try {
      target = new URL(url);
    } catch (e) {
      return;
    }
    if (target.protocol !== 'https:' && target.protocol !== 'http:') return;
    target.searchParams.set('verification_id', id);
    target.searchParams.set('status', status);
    redirecting = true;
    const el = document.getElementById('countdown');
    let n = 3;
    (function tick() {
      if (n === 0) {
        window.location.assign(target.href);
        return;
      }
      el.textContent = fmt(ui.redirect_in, { n: n });
      n -= 1;
      window.setTimeout(tick, 1000);
    })();
  }

  /* ---- Polling: the desktop page following the phone, and waiting for a decision ---- */

  function startPolling() {
    if (pollTimer) return;
    pollTimer = window.setInterval(poll, POLL_MS);
  }

  function stopPolling() {
    if (pollTimer) window.clearInterval(pollTimer);
    pollTimer = 0;
  }

  let handoffStart = '';

  async function poll() {
    let st;
    try {
      st = await call('GET', '');
    } catch (e) {
      if (e.code === 'NETWORK' || e.httpStatus >= 500) return; // try again next tick
      stopPolling();
      handleError(e);
      return;
    }
    state = st;
    if (currentSection && currentSection.id === 'step-handoff') {
      markProgress(st, false);
      const done = FINAL.indexOf(st.status) >= 0 || st.status === 'processing' || st.current_step === 'done';
      if (done || anyFailed(st)) {
        stopPolling();
        render();
        return;
      }
      document.getElementById('handoff-status').textContent =
        st.current_step === handoffStart ? ui.handoff_waiting : fmt(ui.handoff_at, { step: stepLabel(moduleOf(st.current_step)) });
      return;
    }
    if (st.status !== 'processing' || Date.now() - processingSince >= PROCESSING_PATIENCE_MS) {
      stopPolling();
      render();
    }
  }

  /** A computer rather than a phone: a fine pointer, no touch, a wide screen. The screen,
   * not the window, since the SDK's modal is narrow even on a desktop. */
  function isDesktop() {
    const coarse = window.matchMedia && window.matchMedia('(pointer: coarse)').matches;
    const touch = 'ontouchstart' in window || navigator.maxTouchPoints > 0;
    return !coarse && !touch && Math.max(window.screen.width, window.innerWidth) >= 768;
  }

  const HERE_KEY = 'v2client-here-' + id;

  function startHandoff() {
    const section = show('step-handoff');
    const qr = document.getElementById('qr');
    if (!qr.src) qr.src = qr.dataset.src;
    handoffStart = state.current_step;
    markProgress(state, false);
    document.getElementById('handoff-status').textContent = ui.handoff_waiting;
    startPolling();
    document.getElementById('handoff-here').addEventListener('click', function () {
      try {
        window.sessionStorage.setItem(HERE_KEY, '1');
      } catch (e) {
        /* storage may be off; the choice then lasts until reload */
      }
      stopPolling();
      render();
    });
    return section;
  }

  function choseThisDevice() {
    try {
      return window.sessionStorage.getItem(HERE_KEY) === '1';
    } catch (e) {
      return false;
    }
  }

  /* ---- Camera and images ---- */

  let activeStream = null;

  async function startCamera(video, facing) {
    if (!hasCamera) throw new Error('no camera');
    stopCamera();
    activeStream = await navigator.mediaDevices.getUserMedia({
      audio: false,
      video: { facingMode: { ideal: facing }, width: { ideal: 1920 }, height: { ideal: 1080 } },
    });
    video.srcObject = activeStream;
    await video.play();
  }

  function stopCamera() {
    if (activeStream) {
      activeStream.getTracks().forEach(function (t) {
        t.stop();
      });
      activeStream = null;
    }
    document.querySelectorAll('video').forEach(function (v) {
      v.srcObject = null;
    });
  }

  window.addEventListener('pagehide', stopCamera);

  function loadImage(file) {
    return new Promise(function (resolve, reject) {
      const url = URL.createObjectURL(file);
      const img = new Image();
      img.onload = function () {
        URL.revokeObjectURL(url);
        resolve(img);
      };
      img.onerror = function () {
        URL.revokeObjectURL(url);
        reject(new Error('cannot decode'));
      };
      img.src = url;
    });
  }

  /** Draw a video frame or image scaled so its long side is at most maxSide; JPEG 0.9. */
  function downscale(source, maxSide) {
    const w = source.videoWidth || source.naturalWidth || source.width;
    const h = source.videoHeight || source.naturalHeight || source.height;
    if (!w || !h) return Promise.reject(new Error('no picture'));
    const scale = Math.min(1, maxSide / Math.max(w, h));
    const canvas = document.createElement('canvas');
    canvas.width = Math.max(1, Math.round(w * scale));
    canvas.height = Math.max(1, Math.round(h * scale));
    canvas.getContext('2d').drawImage(source, 0, 0, canvas.width, canvas.height);
    return new Promise(function (resolve, reject) {
      canvas.toBlob(
        function (blob) {
          if (blob) resolve(blob);
          else reject(new Error('cannot encode'));
        },
        'image/jpeg',
        0.9
      );
    });
  }

  /** A chosen file, scaled down; a file the browser cannot read goes as it is, for the
   * server to say what is wrong with it. */
  async function prepareFile(file, maxSide) {
    try {
      return await downscale(await loadImage(file), maxSide);
    } catch (e) {
      return file;
    }
  }

  function cameraFailed(section) {
    stopCamera();
    showProblemText(ui.camera_unavailable);
    section.querySelectorAll('[data-action="camera"], [data-action="shoot"], [data-action="record"]').forEach(function (b) {
      b.hidden = true;
    });
    section.querySelector('.camera').hidden = true;
    section.querySelector('input[type="file"]').focus();
  }

  /** After a submission: say what to fix and allow a retry, or move on. */
  async function afterSubmit(result, reset) {
    say('');
    if (result.status === 'rejected') {
      showProblems(result.reasons, result.attempts_left);
      reset();
      if (result.attempts_left === 0) await refresh();
      return;
    }
    clearProblems();
    await refresh();
  }

  /* ---- Steps ---- */

  function setupTerms() {
    const form = document.getElementById('terms-form');
    if (!form) return;
    const box = document.getElementById('terms-accept');
    form.addEventListener('submit', async function (ev) {
      ev.preventDefault();
      if (!box.checked) {
        showProblems(['FIELD_REQUIRED']);
        box.focus();
        return;
      }
      const section = form.closest('section');
      busy(section, true);
      say(ui.sending);
      try {
        await call('POST', '/terms', { accepted: true });
        clearProblems();
        await refresh();
      } catch (e) {
        handleError(e);
      } finally {
        busy(section, false);
      }
    });
  }

  function setupDocumentType() {
    const form = document.getElementById('doctype-form');
    if (!form) return;
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      const picked = form.querySelector('input[name="document_type"]:checked');
      if (!picked) {
        showProblems(['FIELD_REQUIRED']);
        return;
      }
      chosenType = picked.value;
      show('step-document_front');
    });
  }

  function setupDocumentSide(section) {
    const side = section.dataset.side;
    const video = section.querySelector('video');
    const camera = section.querySelector('.camera');
    const preview = section.querySelector('img.preview');
    const file = section.querySelector('input[type="file"]');
    const button = function (name) {
      return section.querySelector('[data-action="' + name + '"]');
    };
    let photo = null;
    let previewUrl = '';

    function reset() {
      photo = null;
      if (previewUrl) URL.revokeObjectURL(previewUrl);
      previewUrl = '';
      preview.hidden = true;
      preview.removeAttribute('src');
      camera.hidden = true;
      button('camera').hidden = !hasCamera;
      button('shoot').hidden = true;
      button('send').hidden = true;
      button('retake').hidden = true;
      file.value = '';
    }

    function usePhoto(blob) {
      reset();
      photo = blob;
      previewUrl = URL.createObjectURL(blob);
      preview.src = previewUrl;
      preview.hidden = false;
      button('camera').hidden = true;
      button('send').hidden = false;
      button('retake').hidden = false;
      say(ui.photo_check);
      button('send').focus();
    }

    preview.addEventListener('error', function () {
      preview.hidden = true;
    });

    button('camera').addEventListener('click', async function () {
      clearProblems();
      try {
        await startCamera(video, 'environment');
      } catch (e) {
        cameraFailed(section);
        return;
      }
      camera.hidden = false;
      button('camera').hidden = true;
      button('shoot').hidden = false;
      button('shoot').focus();
    });

    button('shoot').addEventListener('click', async function () {
      try {
        const blob = await downscale(video, documentMax);
        stopCamera();
        usePhoto(blob);
      } catch (e) {
        cameraFailed(section);
      }
    });

    file.addEventListener('change', async function () {
      const chosen = file.files && file.files[0];
      if (!chosen) return;
      clearProblems();
      stopCamera();
      usePhoto(await prepareFile(chosen, documentMax));
    });

    button('retake').addEventListener('click', function () {
      reset();
      say('');
      (hasCamera ? button('camera') : file).focus();
    });

    const placeholder = button('placeholder');
    if (placeholder) {
      placeholder.addEventListener('click', async function () {
        clearProblems();
        stopCamera();
        usePhoto(await placeholderBlob('document ' + side));
        button('send').click();
      });
    }

    button('send').addEventListener('click', async function () {
      if (!photo) return;
      const form = new FormData();
      form.append('document_type', chosenType);
      form.append('image', photo, photo.name || side + '.jpg');
      busy(section, true);
      say(ui.sending);
      try {
        const result = await call('POST', '/document/' + side, form);
        busy(section, false);
        await afterSubmit(result, reset);
      } catch (e) {
        busy(section, false);
        handleError(e);
      }
    });

    reset();
  }

  function sleep(ms) {
    return new Promise(function (resolve) {
      window.setTimeout(resolve, ms);
    });
  }

  function setupLiveness() {
    const section = document.getElementById('step-liveness');
    if (!section) return;
    const video = section.querySelector('video');
    const camera = section.querySelector('.camera');
    const file = section.querySelector('input[type="file"]');
    const startButton = section.querySelector('[data-action="camera"]');
    const recordButton = section.querySelector('[data-action="record"]');

    function reset() {
      camera.hidden = true;
      startButton.hidden = !hasCamera;
      recordButton.hidden = true;
      file.value = '';
    }

    async function send(frames) {
      const form = new FormData();
      frames.forEach(function (blob, i) {
        form.append('frames', blob, 'frame-' + (i + 1) + '.jpg');
      });
      busy(section, true);
      say(ui.sending);
      try {
        const result = await call('POST', '/liveness', form);
        busy(section, false);
        await afterSubmit(result, reset);
      } catch (e) {
        busy(section, false);
        reset();
        handleError(e);
      }
    }

    startButton.addEventListener('click', async function () {
      clearProblems();
      try {
        await startCamera(video, 'user');
      } catch (e) {
        cameraFailed(section);
        return;
      }
      camera.hidden = false;
      startButton.hidden = true;
      recordButton.hidden = false;
      recordButton.focus();
    });

    recordButton.addEventListener('click', async function () {
      // A burst over about two seconds, first to last, while the user follows the challenge.
      recordButton.disabled = true;
      say(ui.liveness_recording);
      const frames = [];
      try {
        for (let i = 0; i < LIVENESS_FRAMES; i += 1) {
          frames.push(await downscale(video, selfieMax));
          if (i < LIVENESS_FRAMES - 1) await sleep(LIVENESS_SPAN_MS / (LIVENESS_FRAMES - 1));
        }
      } catch (e) {
        recordButton.disabled = false;
        cameraFailed(section);
        return;
      }
      recordButton.disabled = false;
      stopCamera();
      await send(frames);
    });

    const placeholder = section.querySelector('[data-action="placeholder"]');
    if (placeholder) {
      placeholder.addEventListener('click', async function () {
        clearProblems();
        stopCamera();
        await send([await placeholderBlob('selfie 1'), await placeholderBlob('selfie 2')]);
      });
    }

    file.addEventListener('change', async function () {
      const chosen = Array.prototype.slice.call(file.files || []);
      if (chosen.length < 2 || chosen.length > 8) {
        showProblemText(ui.liveness_files_count);
        file.value = '';
        return;
      }
      clearProblems();
      stopCamera();
      const frames = [];
      for (const f of chosen) frames.push(await prepareFile(f, selfieMax));
      await send(frames);
    });

    reset();
  }

  /* ---- The details form ---- */

  const PATTERNS = {
    email: /^[^\s@]+@[^\s@]+\.[^\s@]+$/,
    tel: /^\+?[0-9][0-9 ()./-]{4,24}$/,
    date: /^\d{4}-\d{2}-\d{2}$/,
    country: /^[A-Z]{2}$/,
  };

  function fieldProblem(el) {
    if (el.validity.valueMissing) return 'FIELD_REQUIRED';
    if (!el.validity.valid) return 'FIELD_INVALID';
    const pattern = PATTERNS[el.dataset.kind];
    if (el.value !== '' && pattern && !pattern.test(el.value)) return 'FIELD_INVALID';
    if (el.dataset.kind === 'date' && el.value !== '') {
      const t = Date.parse(el.value + 'T00:00:00Z');
      if (isNaN(t) || t > Date.now() || t < Date.parse('1900-01-01T00:00:00Z')) return 'FIELD_INVALID';
    }
    return '';
  }

  function setFieldProblem(el, code) {
    const out = document.getElementById('error-' + el.name);
    if (out) out.textContent = code ? reasonText(code) : '';
    if (code) el.setAttribute('aria-invalid', 'true');
    else el.removeAttribute('aria-invalid');
  }

  function localizeCountries() {
    if (!window.Intl || !Intl.DisplayNames) return;
    let names;
    try {
      names = new Intl.DisplayNames([lang], { type: 'region' });
    } catch (e) {
      return;
    }
    document.querySelectorAll('select[data-kind="country"]').forEach(function (select) {
      const options = Array.prototype.slice.call(select.options, 1);
      options.forEach(function (o) {
        try {
          o.textContent = names.of(o.value) || o.value;
        } catch (e) {
          o.textContent = o.value;
        }
      });
      options.sort(function (a, b) {
        return a.textContent.localeCompare(b.textContent, lang);
      });
      options.forEach(function (o) {
        select.append(o);
      });
    });
  }

  /** Offer what was read on the document in the fields still empty, to confirm or edit. */
  function prefillForm(st) {
    const form = document.getElementById('details-form');
    if (!form) return;
    const values = st.form_prefill || {};
    let offered = false;
    Object.keys(values).forEach(function (name) {
      const el = form.elements.namedItem(name);
      if (!el || el.tagName !== 'INPUT') return;
      if (el.value === '') el.value = values[name];
      if (el.value === values[name]) offered = true;
    });
    const note = document.getElementById('form-prefilled');
    if (note && offered) note.hidden = false;
  }

  function setupForm() {
    const form = document.getElementById('details-form');
    if (!form) return;
    localizeCountries();
    const fields = Array.prototype.filter.call(form.elements, function (el) {
      return el.name && (el.tagName === 'INPUT' || el.tagName === 'SELECT');
    });
    // A marked field is re-checked as it is edited (not on blur: a message vanishing
    // on blur shifts the layout under a pointer on its way to the submit button).
    fields.forEach(function (el) {
      ['input', 'change'].forEach(function (type) {
        el.addEventListener(type, function () {
          if (el.hasAttribute('aria-invalid')) setFieldProblem(el, fieldProblem(el));
        });
      });
    });

    form.addEventListener('submit', async function (ev) {
      ev.preventDefault();
      clearProblems();
      let first = null;
      fields.forEach(function (el) {
        if (el.tagName === 'INPUT') el.value = el.value.trim();
        const code = fieldProblem(el);
        setFieldProblem(el, code);
        if (code && !first) first = el;
      });
      if (first) {
        first.focus();
        return;
      }
      const values = {};
      fields.forEach(function (el) {
        if (el.value !== '') values[el.name] = el.value;
      });
      const section = form.closest('section');
      busy(section, true);
      say(ui.sending);
      try {
        const result = await call('POST', '/form', values);
        busy(section, false);
        if (result.status === 'rejected') {
          // Reasons may name their field ({code, field}); mark those beside the field.
          const general = [];
          (result.reasons || []).forEach(function (r) {
            const el = r && r.field ? form.elements.namedItem(r.field) : null;
            if (el) setFieldProblem(el, codeOf(r));
            else general.push(r);
          });
          if (general.length || !result.reasons || !result.reasons.length) showProblems(general, result.attempts_left);
          say('');
          const invalid = form.querySelector('[aria-invalid="true"]');
          if (invalid) invalid.focus();
          if (result.attempts_left === 0) await refresh();
          return;
        }
        await afterSubmit(result, function () {});
      } catch (e) {
        busy(section, false);
        handleError(e);
      }
    });
  }

  /* ---- Start ---- */

  async function start() {
    setupTerms();
    setupDocumentType();
    document.querySelectorAll('section.capture[data-side]').forEach(setupDocumentSide);
    setupLiveness();
    setupForm();
    const retry = document.getElementById('retry-button');
    if (retry) {
      retry.addEventListener('click', function () {
        lastPosted = '';
        post('retry_requested', knownStatus);
      });
    }

    try {
      state = await call('GET', '');
    } catch (e) {
      document.getElementById('step-loading').hidden = true;
      handleError(e);
      return;
    }
    const open = FINAL.indexOf(state.status) < 0 && state.status !== 'processing' && state.current_step !== 'done';
    if (open && isDesktop() && !choseThisDevice()) startHandoff();
    else render();
  }

  start();
})();
