// digitnet's drawing page: draw on the pad (mouse, pen or finger), and the network's guess
// updates as you draw. Each prediction sends the pad as a PNG to POST api/predict, which
// preprocesses it exactly as the command line does; the 28x28 image it returns is shown
// enlarged. In "A number" mode the pad is three times as wide and goes to POST api/read,
// which answers with the number and each digit's box; the boxes are drawn over the pad.
// A wrong guess can be corrected: a tap on the right digit sends the drawing to
// POST api/teach, and from then on the server answers this browser session with a model
// adapted to its corrections ("Your handwriting": teach me, download, forget).
// No framework and no build step.
"use strict";

(() => {
  const SIZE = 280;        // the pad's height in drawing units (CSS scales it to the card)
  const WIDE = 3;          // in number mode the pad is this many times as wide as tall
  const BRUSH = 22;        // default stroke width in drawing units: about MNIST's once shrunk
                           // to 20x20; the "Pen width" slider changes it
  const INK = "#111";
  const PAPER = "#fff";
  const DEBOUNCE_MS = 120; // wait this long after the last stroke movement before predicting
  const MAX_UPLOAD = 2 * 1024 * 1024;

  const $ = (id) => document.getElementById(id);
  const pad = $("pad"), drop = $("drop"), seen = $("seen"), result = $("result");
  const boxes = $("boxes"), boxesCtx = boxes.getContext("2d");
  const numberCard = $("number-card"), numberOut = $("number"), digitList = $("digits");
  const guess = $("guess"), confidence = $("confidence"), statusLine = $("status");
  const sure = $("sure"), pen = $("pen"), scoreNote = $("score-note");
  const ctx = pad.getContext("2d");
  const seenCtx = seen.getContext("2d");

  const scale = Math.min(Math.max(window.devicePixelRatio || 1, 1), 3);
  let width = SIZE;        // the pad's width in drawing units: SIZE, or WIDE * SIZE
  let numberMode = false;
  let threshold = 0;       // digit scores under this are "not a digit" (from api/model)  // reading whole numbers (api/read) instead of one digit
  let shown = { x: 0, y: 0, s: 1 };  // picture pixels -> pad pixels, for the digits' boxes

  function sizePad() {
    pad.width = boxes.width = Math.round(width * scale);
    pad.height = boxes.height = Math.round(SIZE * scale);
    ctx.setTransform(scale, 0, 0, scale, 0, 0);
  }
  sizePad();

  let drawing = false;     // a pointer is down on the pad
  let last = null;         // the previous point of the current stroke
  let inked = false;       // something is drawn (or an uploaded image is shown)
  let uploaded = false;    // the pad shows an uploaded image, not a drawing
  let timer = null;        // the pending debounced prediction
  let inFlight = false;    // a prediction request is on its way
  let again = false;       // the drawing changed while a request was on its way
  let generation = 0;      // bumped by Clear and uploads, so late answers are ignored

  // ---- the bar chart: one bar per digit ----
  const bars = [];
  for (let d = 0; d < 10; d++) {
    const bar = document.createElement("div");
    bar.className = "bar";
    bar.innerHTML = '<span class="pct"></span><div class="track"><div class="fill"></div></div>' +
                    `<span class="label">${d}</span>`;
    $("bars").appendChild(bar);
    bars.push({ bar, pct: bar.querySelector(".pct"), fill: bar.querySelector(".fill") });
  }

  // ---- teaching: a button per digit under the guess ----
  const teachRow = $("teach"), teachButtons = [];
  let canTeach = false;    // the server can adapt its model (GET api/session says)
  for (let d = 0; d < 10; d++) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = String(d);
    button.dataset.digit = String(d);
    button.setAttribute("aria-label", `It is a ${d}: teach it`);
    button.addEventListener("click", () => teach(d));
    $("teach-digits").appendChild(button);
    teachButtons.push(button);
  }

  function percent(p) {  // never rounded to certainty, as in the CLI: ">99%", "<0.1%"
    const v = 100 * p;
    if (p < 1 && v >= 99.5) return ">99%";
    if (p > 0 && v < 0.05) return "<0.1%";
    return (v >= 10 ? v.toFixed(0) : v.toFixed(1)) + "%";
  }

  function setStatus(state, message = "", isError = false) {
    result.dataset.status = state;
    for (const line of [statusLine, $("number-status")]) {
      line.textContent = message;
      line.classList.toggle("error", isError);
    }
  }

  // data.digit is null when the model declines the picture as not a digit; its
  // digit_score (the largest probability) was below the model's threshold.
  function showPrediction(data) {
    teachRow.hidden = !canTeach;
    teachButtons.forEach((b) => b.classList.remove("taught"));
    const declined = data.digit === null;
    scoreNote.textContent = !threshold ? "" : declined
      ? `Its digit score, ${percent(data.digit_score)}, is under the ${percent(threshold)} ` +
        "this model needs: it does not look enough like any digit it knows."
      : `Digit score ${percent(data.digit_score)}: how much it looks like a digit. ` +
        `Under ${percent(threshold)}, the model would say "not a digit".`;
    result.dataset.verdict = declined ? "not-a-digit" : "digit";
    guess.textContent = declined ? "not a digit" : String(data.digit);
    confidence.textContent = percent(declined ? data.digit_score : data.probabilities[data.digit]);
    sure.textContent = declined ? "digit score" : "sure";
    data.probabilities.forEach((p, d) => {
      bars[d].fill.style.height = `${(100 * p).toFixed(2)}%`;
      bars[d].pct.textContent = p >= 0.005 ? percent(p) : "";
      bars[d].bar.classList.toggle("top", d === data.digit);
      bars[d].bar.title = `${d}: ${percent(p)}`;
    });
    const image = seenCtx.createImageData(28, 28);
    data.input.forEach((row, r) => row.forEach((v, c) => {
      const i = 4 * (28 * r + c);
      image.data[i] = image.data[i + 1] = image.data[i + 2] = v;
      image.data[i + 3] = 255;
    }));
    seenCtx.putImageData(image, 0, 0);
  }

  function showReading(data) {
    numberOut.textContent = data.number === null ? "not a number" : data.number;
    numberCard.dataset.status = data.number === null ? "declined" : "done";
    digitList.replaceChildren(...data.digits.map((d, k) => {
      const item = document.createElement("li");
      item.dataset.digit = String(d.digit);
      item.classList.toggle("doubtful", d.doubtful);  // alone, it would be "not a digit"
      item.innerHTML = `<b>${d.digit}${d.doubtful ? "?" : ""}</b>${percent(d.probability)}`;
      item.title = `digit ${k + 1}: ${d.digit}, ${percent(d.probability)} sure` +
        (d.doubtful ? "; the model doubts it is a digit" : "");
      return item;
    }));
    boxesCtx.clearRect(0, 0, boxes.width, boxes.height);
    const line = Math.max(2, Math.round(2 * scale));
    boxesCtx.lineWidth = line;
    boxesCtx.font = `600 ${Math.round(18 * scale)}px system-ui, sans-serif`;
    data.digits.forEach((d, k) => {
      const [x0, y0, x1, y1] = d.box.map((v, i) => (i % 2 ? shown.y : shown.x) + v * shown.s);
      boxesCtx.strokeStyle = boxesCtx.fillStyle = d.doubtful ? "#d97706" : "#2563eb";
      boxesCtx.strokeRect(x0, y0, x1 - x0, y1 - y0);
      boxesCtx.fillText(`${d.digit}${d.doubtful ? "?" : ""}`, x0 + line,
                        Math.max(y0 - 2 * line, 16 * scale));
    });
  }

  function resetPrediction() {
    teachRow.hidden = true;
    numberOut.textContent = "?";
    numberCard.dataset.status = "idle";
    digitList.replaceChildren();
    boxesCtx.clearRect(0, 0, boxes.width, boxes.height);
    delete result.dataset.verdict;
    guess.textContent = "?";
    confidence.textContent = "–";
    scoreNote.textContent = "";
    sure.textContent = "sure";
    for (const b of bars) {
      b.fill.style.height = "0";
      b.pct.textContent = "";
      b.bar.classList.remove("top");
      b.bar.title = "";
    }
    seenCtx.fillStyle = "#000";
    seenCtx.fillRect(0, 0, 28, 28);
  }

  // ---- talking to the server ----
  async function post(body, headers) {
    const mine = generation;
    let data = null, ok = false;
    try {
      const endpoint = numberMode ? "api/read" : "api/predict";
      const response = await fetch(endpoint, { method: "POST", headers, body });
      ok = response.ok;
      data = await response.json();
    } catch (err) {
      data = { error: "cannot reach the digitnet server" };
    }
    if (mine !== generation) return false;  // cleared or replaced meanwhile
    if (ok) {
      if (numberMode) showReading(data); else showPrediction(data);
      setStatus(result.dataset.status);
    } else {
      setStatus("error", (data && data.error) || "the server refused the request", true);
    }
    return ok;
  }

  function settle() {
    if (!drawing && !timer && !inFlight && result.dataset.status === "pending") {
      setStatus("done");
    }
  }

  function schedule(delay = DEBOUNCE_MS) {
    setStatus("pending");
    clearTimeout(timer);
    timer = setTimeout(sendDrawing, delay);
  }

  async function sendDrawing() {
    timer = null;
    if (inFlight) { again = true; return; }
    if (!inked || uploaded) { settle(); return; }
    inFlight = true;
    const body = JSON.stringify({ image: pad.toDataURL("image/png") });
    await post(body, { "Content-Type": "application/json" });
    inFlight = false;
    if (again) {
      again = false;
      sendDrawing();
    } else {
      settle();
    }
  }

  // ---- drawing ----
  function clearPad() {
    generation++;
    clearTimeout(timer);
    timer = null;
    again = false;
    ctx.fillStyle = PAPER;
    ctx.fillRect(0, 0, width, SIZE);
    shown = { x: 0, y: 0, s: 1 };
    inked = uploaded = false;
    drop.classList.remove("inked");
    resetPrediction();
    setStatus("idle");
  }

  function pointFrom(event) {
    const box = pad.getBoundingClientRect();
    return { x: (event.clientX - box.left) * width / box.width,
             y: (event.clientY - box.top) * SIZE / box.height };
  }

  function stroke(from, to) {
    ctx.strokeStyle = INK;
    ctx.lineWidth = pen.valueAsNumber || BRUSH;
    ctx.lineCap = ctx.lineJoin = "round";
    ctx.beginPath();
    ctx.moveTo(from.x, from.y);
    ctx.lineTo(to.x, to.y);
    ctx.stroke();
  }

  pad.addEventListener("pointerdown", (event) => {
    if (event.pointerType === "mouse" && event.button !== 0) return;
    event.preventDefault();
    if (uploaded) clearPad();
    pad.setPointerCapture(event.pointerId);
    drawing = true;
    last = pointFrom(event);
    stroke(last, last);  // a dot
    inked = true;
    drop.classList.add("inked");
    schedule();
  });

  pad.addEventListener("pointermove", (event) => {
    if (!drawing) return;
    const coalesced = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
    for (const e of coalesced.length ? coalesced : [event]) {
      const point = pointFrom(e);
      stroke(last, point);
      last = point;
    }
    schedule();
  });

  function endStroke() {
    if (!drawing) return;
    drawing = false;
    schedule(0);
  }
  pad.addEventListener("pointerup", endStroke);
  pad.addEventListener("pointercancel", endStroke);
  pad.addEventListener("lostpointercapture", endStroke);

  $("clear").addEventListener("click", clearPad);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") clearPad();
  });

  // ---- uploading or dropping an image file ----
  async function classifyFile(file) {
    if (!file) return;
    if (!/^image\/(png|jpeg)$/.test(file.type)) {
      setStatus("error", `${file.name} is not a PNG or JPEG image`, true);
      return;
    }
    if (file.size > MAX_UPLOAD) {
      setStatus("error", `${file.name} is larger than 2 MB; try a smaller image`, true);
      return;
    }
    clearPad();
    uploaded = inked = true;
    drop.classList.add("inked");
    setStatus("pending", `classifying ${file.name}…`);
    const url = URL.createObjectURL(file);
    const picture = new Image();
    picture.onload = () => {
      const fit = Math.min(width / picture.width, SIZE / picture.height);
      const w = picture.width * fit, h = picture.height * fit;
      ctx.drawImage(picture, (width - w) / 2, (SIZE - h) / 2, w, h);
      shown = { x: (width - w) / 2 * scale, y: (SIZE - h) / 2 * scale, s: fit * scale };
      URL.revokeObjectURL(url);
    };
    picture.onerror = () => URL.revokeObjectURL(url);
    picture.src = url;
    const form = new FormData();
    form.append("file", file, file.name);
    inFlight = true;
    const ok = await post(form, {});
    inFlight = false;
    if (ok) setStatus("done", `classified ${file.name}`);
  }

  $("file").addEventListener("change", (event) => {
    classifyFile(event.target.files[0]);
    event.target.value = "";  // choosing the same file again classifies it again
  });

  let dragDepth = 0;
  drop.addEventListener("dragenter", (event) => {
    event.preventDefault();
    dragDepth++;
    drop.classList.add("dragging");
  });
  drop.addEventListener("dragover", (event) => event.preventDefault());
  drop.addEventListener("dragleave", () => {
    dragDepth = Math.max(dragDepth - 1, 0);
    if (!dragDepth) drop.classList.remove("dragging");
  });
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    dragDepth = 0;
    drop.classList.remove("dragging");
    classifyFile(event.dataTransfer.files[0]);
  });
  // A file dropped beside the pad must not replace the page.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());

  // ---- one digit or a whole number ----
  function setMode(number) {
    numberMode = number;
    width = number ? WIDE * SIZE : SIZE;
    document.body.classList.toggle("number-mode", number);
    $("mode-digit").setAttribute("aria-pressed", String(!number));
    $("mode-number").setAttribute("aria-pressed", String(number));
    pad.setAttribute("aria-label", number ? "Drawing pad: write a number"
                                          : "Drawing pad: draw one digit");
    $("pad-hint").textContent = number ? "write a number" : "draw a digit";
    sizePad();
    clearPad();
  }
  $("mode-digit").addEventListener("click", () => setMode(false));
  $("mode-number").addEventListener("click", () => setMode(true));

  // ---- your handwriting: corrections, "teach me", download, forget ----
  function showSession(info) {
    canTeach = Boolean(info.can_adapt);
    const n = info.examples || 0;
    const per = (info.per_digit || []).map((c, d) => (c ? `${c} of ${d}` : "")).filter(Boolean);
    $("mine-count").textContent = !canTeach
      ? `This server's model cannot learn your handwriting: ${info.refusal}`
      : n === 0 ? "No corrections yet: the guesses are the model's own."
      : `${n} correction${n === 1 ? "" : "s"} so far (${per.join(", ")}); the guesses now ` +
        "use a model adapted to them.";
    $("download").setAttribute("aria-disabled", String(n === 0));
    $("forget").disabled = n === 0;
    $("teach-me").disabled = !canTeach;
  }

  async function call(method, url, body) {
    const options = { method, headers: body ? { "Content-Type": "application/json" } : {} };
    if (body) options.body = JSON.stringify(body);
    try {
      const response = await fetch(url, options);
      const data = await response.json();
      return response.ok ? data : { error: data.error || "the server refused the request" };
    } catch (err) {
      return { error: "cannot reach the digitnet server" };
    }
  }

  async function teach(digit) {
    if (!inked) return;
    const mine = generation;
    setStatus("pending", `teaching: this is a ${digit}…`);
    const data = await call("POST", "api/teach", { digit, image: pad.toDataURL("image/png") });
    if (data.error) { setStatus("error", data.error, true); return; }
    showSession(data);
    if (mine === generation) {
      showPrediction(data.prediction);
      teachButtons[digit].classList.add("taught");
    }
    setStatus("done", `Learnt: that is a ${digit}. Your next guesses use your corrections.`);
  }

  $("forget").addEventListener("click", async () => {
    const data = await call("DELETE", "api/session");
    if (data.error) { setStatus("error", data.error, true); return; }
    showSession(await call("GET", "api/session"));
    $("lesson-result").textContent = "Your corrections are forgotten.";
    if (inked && !uploaded) schedule(0); else if (uploaded) clearPad();
  });

  // "Teach me": each digit ROUNDS times; the last round is kept apart to measure on.
  const ROUNDS = 3;
  let lesson = null;  // {prompts: [digits], drawings: [{digit, image, before}]}

  function prompt() {
    const k = lesson.drawings.length, digit = lesson.prompts[k];
    $("lesson-prompt").textContent =
      `Draw a ${digit}  (${k + 1} of ${lesson.prompts.length})`;
    $("lesson-next").textContent = k + 1 === lesson.prompts.length ? "Finish" : "Next";
  }

  $("teach-me").addEventListener("click", () => {
    if (numberMode) setMode(false);
    lesson = { prompts: [], drawings: [] };
    for (let r = 0; r < ROUNDS; r++) for (let d = 0; d < 10; d++) lesson.prompts.push(d);
    $("lesson").hidden = false;
    $("lesson-result").textContent = "";
    clearPad();
    prompt();
  });

  $("lesson-stop").addEventListener("click", () => {
    lesson = null;
    $("lesson").hidden = true;
    $("lesson-result").textContent = "Lesson stopped; nothing was taught.";
  });

  function guessOf(data) { return data.error ? null : data.digit; }

  $("lesson-next").addEventListener("click", async () => {
    if (!lesson || !inked || uploaded) return;
    const digit = lesson.prompts[lesson.drawings.length];
    const image = pad.toDataURL("image/png");
    const before = guessOf(await call("POST", "api/predict", { image }));
    lesson.drawings.push({ digit, image, before });
    clearPad();
    if (lesson.drawings.length < lesson.prompts.length) { prompt(); return; }
    const done = lesson;
    lesson = null;
    $("lesson").hidden = true;
    const cut = (ROUNDS - 1) * 10;  // the first rounds teach, the last one measures
    $("lesson-result").textContent = `Learning from ${cut} drawings…`;
    const taught = await call("POST", "api/teach", {
      examples: done.drawings.slice(0, cut).map((x) => ({ digit: x.digit, image: x.image })) });
    if (taught.error) { $("lesson-result").textContent = taught.error; return; }
    showSession(taught);
    const kept = done.drawings.slice(cut);
    let right = 0, rightNow = 0;  // read right before the lesson, and after it
    for (const x of kept) {
      right += x.before === x.digit ? 1 : 0;
      rightNow += guessOf(await call("POST", "api/predict", { image: x.image })) === x.digit
        ? 1 : 0;
    }
    const result = $("lesson-result");
    result.dataset.before = String(right);
    result.dataset.after = String(rightNow);
    result.textContent = `On your last ${kept.length} drawings, which it did not learn from: ` +
      `${right} of ${kept.length} read right before, ${rightNow} of ${kept.length} after.`;
  });

  call("GET", "api/session").then((info) => { if (!info.error) showSession(info); });

  // ---- the model's details ----
  fetch("api/model").then((r) => r.json()).then((info) => {
    threshold = info.reject_threshold || 0;
    const a = info.architecture || {};
    const parts = [`${a.inputs}-${a.hidden}-${a.outputs} ReLU network (${info.name})`];
    if (info.test_accuracy != null) {
      parts.push(`test accuracy ${(100 * info.test_accuracy).toFixed(2)}%`);
    }
    if (info.epochs_trained != null && info.config) {
      parts.push(`trained ${info.epochs_trained} epoch${info.epochs_trained === 1 ? "" : "s"} ` +
                 `with the ${info.config.preset} preset`);
    }
    if (info.digitnet_version) parts.push(`digitnet ${info.digitnet_version}`);
    $("model-info").textContent = `Model: ${parts.join(" · ")}`;
  }).catch(() => {
    $("model-info").textContent = "The model's details could not be loaded.";
  });

  clearPad();
})();
