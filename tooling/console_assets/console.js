// The console's script: reads the embedded timeline (compact JSON) and builds each stream's DOM
// only when it is shown (rows in batches as the list scrolls, details when a stream is opened).
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("console-data").textContent);
  var SUGGESTIONS = ["Block", "Review", "Pass"];
  var BATCH = 60, STRIP = 120;
  var AXIS_END = D.totals.live ? Math.max(D.extent[1], Math.min(D.built, D.range.until)) : D.extent[1];
  var AXIS_START = D.extent[0];
  var SPAN = Math.max(AXIS_END - AXIS_START, 60);
  AXIS_START -= SPAN * 0.01; AXIS_END += SPAN * 0.02; SPAN = AXIS_END - AXIS_START;

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) for (var k in attrs) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "cls") node.className = attrs[k];
      else if (attrs[k] !== null && attrs[k] !== undefined && attrs[k] !== false) node.setAttribute(k, attrs[k]);
    }
    (children || []).forEach(function (c) { if (c) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return node;
  }
  function utc(ts) { return ts == null ? "?" : new Date(ts * 1000).toISOString().slice(0, 19).replace("T", " "); }
  function clock(ts) { return ts == null ? "?" : utc(ts).slice(11); }
  function local(ts) { return ts == null ? "" : "local " + new Date(ts * 1000).toLocaleString(); }
  function time(ts, text) {
    return el("time", { datetime: ts == null ? null : new Date(ts * 1000).toISOString(), title: local(ts), text: text || utc(ts) });
  }
  function pct(ts) { return Math.max(0, Math.min(100, (ts - AXIS_START) / SPAN * 100)); }
  function span(a, b) { return "left:" + pct(a).toFixed(3) + "%;width:" + Math.max(pct(b) - pct(a), 0.15).toFixed(3) + "%"; }
  function dur(s) {
    if (s == null || s < 0) return "?";
    var h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60), x = s % 60;
    return (h ? h + "h" + String(m).padStart(2, "0") + "m" : m + "m") + String(x).padStart(2, "0") + "s";
  }
  function size(n) {
    if (n == null) return "?";
    var units = ["B", "KB", "MB", "GB"], i = 0;
    while (n >= 1024 && i < 3) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : n) + " " + units[i];
  }

  // Per stream, derived once: snapshot times (delta-decoded), hits by suggestion.
  D.streams.forEach(function (s) {
    var t = 0;
    s.times = s.t.map(function (d) { t += d; return t; });
    s.by = {};
    s.h.forEach(function (h) { s.by[h[1]] = (s.by[h[1]] || 0) + 1; });
  });
  function snapshotUrl(s, i) {
    var x = s.x[String(i)];
    if (x !== undefined) return x;
    return s.u[0] + s.times[i] + s.u[1];
  }

  // Header
  var T = D.totals;
  document.getElementById("range").append(
    "Range ", time(D.range.since), " to ", time(D.range.until), " UTC",
    D.source.bucket ? " · bucket " + D.source.bucket + (D.source.prefix ? " prefix " + D.source.prefix : "") : "",
    " · built ", time(D.built), " UTC");
  function figure(name, label, value, note) {
    return el("div", { "data-figure": name }, [el("dt", { text: label }), el("dd", {}, [el("span", { cls: "n", text: String(value) }), note ? el("small", { text: " " + note }) : null])]);
  }
  var figures = document.getElementById("figures");
  var sessionNote = [T.complete + " complete"];
  if (T.without_end) sessionNote.push(T.without_end + " without end");
  if (T.without_begin) sessionNote.push(T.without_begin + " without begin");
  [
    figure("streams", "streams", T.streams),
    figure("live", "live now", D.live_now),
    figure("sessions", "sessions", T.sessions, sessionNote.join(", ")),
    figure("recordings", "recordings", T.recordings),
    figure("snapshots", "snapshots", T.snapshots),
    figure("hits", "moderation hits", T.hits, T.published + " published"),
  ].forEach(function (f) { figures.appendChild(f); });
  var bySug = el("div", { "data-figure": "by-suggestion" }, [el("dt", { text: "hits by suggestion" })]);
  var dd = el("dd");
  Object.keys(D.hits_by_suggestion).forEach(function (s) {
    dd.appendChild(el("span", { cls: "chip " + s, "data-suggestion": s, text: s + " " + D.hits_by_suggestion[s] }));
  });
  bySug.appendChild(dd); figures.appendChild(bySug);
  if (T.actions) figures.appendChild(figure("actions", "actions taken", T.actions));
  if (T.push_exceptions) figures.appendChild(figure("push-exceptions", "push exception reports", T.push_exceptions));
  if (T.recording_failures) figures.appendChild(figure("recording-failures", "recording failures", T.recording_failures));
  if (T.backfilled) figures.appendChild(figure("backfilled", "backfilled", T.backfilled, "by reconcile"));
  if (T.synthesised) figures.appendChild(figure("synthesised", "synthesised", T.synthesised, "begins/ends"));
  figures.appendChild(figure("quarantined", "quarantined", T.quarantined));
  if (D.quarantine.length) {
    var q = document.getElementById("quarantine");
    q.hidden = false;
    q.append(el("strong", { text: T.quarantined + (T.quarantined === 1 ? " quarantined callback" : " quarantined callbacks") }), " (authentic but unusable; kept under quarantine/):");
    q.appendChild(el("ul", {}, D.quarantine.map(function (r) { return el("li", { text: r[0] + ": " + r[1] + (r[2] > 1 ? " (×" + r[2] + ")" : "") }); })));
  }

  // Ruler: ticks at a round step, as many as fit its width without labels touching (~56 px each),
  // drawn again when the window is resized.
  function drawRuler() {
    var ruler = document.getElementById("ruler");
    var room = Math.max(2, Math.min(10, Math.floor((ruler.clientWidth || 800) / 56)));
    var steps = [60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800], step = steps[steps.length - 1];
    for (var i = 0; i < steps.length; i++) if (SPAN / steps[i] <= room) { step = steps[i]; break; }
    if (SPAN / step > room) step = Math.ceil(SPAN / room / 86400) * 86400;  // a span of years: whole days, few ticks
    ruler.textContent = "";
    for (var t = Math.ceil(AXIS_START / step) * step; t < AXIS_END; t += step) {
      ruler.appendChild(el("span", { style: "left:" + pct(t) + "%", title: local(t), text: step >= 86400 ? utc(t).slice(0, 10) : clock(t).slice(0, 5) }));
    }
  }
  drawRuler();
  var resizing = 0;
  window.addEventListener("resize", function () { clearTimeout(resizing); resizing = setTimeout(drawRuler, 100); });

  // Filters
  var select = document.getElementById("f-suggestion");
  SUGGESTIONS.forEach(function (s) { select.appendChild(el("option", { value: s, text: s })); });
  var list = document.getElementById("streams"), shown = document.getElementById("shown");
  var filtered = [], rendered = 0;
  function apply() {
    var q = document.getElementById("f-name").value.trim().toLowerCase();
    var sug = select.value, onlyLive = document.getElementById("f-live").checked, onlyHits = document.getElementById("f-hits").checked;
    filtered = D.streams.filter(function (s) {
      return (!q || s.id.toLowerCase().indexOf(q) >= 0 || s.app.toLowerCase().indexOf(q) >= 0) &&
        (!sug || s.by[sug]) && (!onlyLive || s.live) && (!onlyHits || s.h.length);
    });
    list.textContent = "";
    rendered = 0;
    shown.textContent = filtered.length + " of " + D.streams.length + " streams";
    if (!filtered.length) list.appendChild(el("p", { cls: "empty", text: D.streams.length ? "No stream matches the filters." : "No stream documents in this range." }));
    more();
  }
  function more() {
    var end = Math.min(rendered + BATCH, filtered.length), frag = document.createDocumentFragment();
    for (; rendered < end; rendered++) frag.appendChild(row(filtered[rendered]));
    list.appendChild(frag);
  }
  new IntersectionObserver(function (entries) {
    if (entries[0].isIntersecting && rendered < filtered.length) more();
  }, { rootMargin: "600px" }).observe(document.getElementById("sentinel"));
  document.getElementById("filters").addEventListener("submit", function (e) { e.preventDefault(); });
  ["f-name", "f-suggestion", "f-live", "f-hits"].forEach(function (id) {
    document.getElementById(id).addEventListener(id === "f-name" ? "input" : "change", apply);
  });

  // One stream: its row (name, badges, axis), details built on first open.
  var serial = 0;
  function row(s) {
    var id = "stream-" + (++serial);
    var badges = [];
    if (s.live) badges.push(el("span", { cls: "chip live", text: "LIVE" }));
    SUGGESTIONS.forEach(function (g) { if (s.by[g]) badges.push(el("span", { cls: "chip " + g, text: g + " " + s.by[g] })); });
    if (s.e.length) badges.push(el("span", { cls: "chip health", title: "push exception reports (CSS event 321)", text: "push issues " + s.e.length }));
    var failures = s.re.filter(function (r) { return r[2]; }).length;
    if (failures) badges.push(el("span", { cls: "chip recfail", title: "recording failed to start, or broke (CSS events 332, 341)", text: "recording failed " + failures }));
    if (s.repaired) badges.push(el("span", { cls: "chip repaired", title: "documents backfilled or synthesised by reconcile", text: "repaired " + s.repaired }));
    var head = el("button", { type: "button", cls: "head", "aria-expanded": "false", "aria-controls": id }, [
      el("span", { cls: "name", title: s.id, text: s.id }),
      el("span", { cls: "meta", title: s.app, text: s.s.length + " sess · " + s.r.length + " rec · " + s.times.length + " snap · " + s.app }),
      badges.length ? el("span", { cls: "badges" }, badges) : null]);
    var article = el("article", { cls: "stream", "data-stream": s.id, "data-live": s.live ? "1" : "0" }, [el("div", { cls: "row" }, [head, axis(s)])]);
    var detail = el("div", { cls: "detail", id: id, hidden: "" });
    article.appendChild(detail);
    head.addEventListener("click", function () {
      var open = detail.hidden;
      if (open && !detail.firstChild) build(s, detail);
      detail.hidden = !open;
      article.classList.toggle("open", open);
      head.setAttribute("aria-expanded", String(open));
    });
    return article;
  }

  function axis(s) {
    var box = el("div", { cls: "axis" });
    var lastSession = s.s.length - 1;
    s.s.forEach(function (x, i) {
      var begin = x[0], end = x[1], state = x[2], cls = ["bar"], notes = [];
      var live = state === "live";
      if (live) { cls.push("open"); end = AXIS_END; notes.push("live: no end yet"); }
      else if (state === "no end") { cls.push("no-end"); end = i < lastSession && s.s[i + 1][0] != null ? s.s[i + 1][0] : begin + 60; notes.push("end missing"); }
      if (state === "no begin" || x[3]) { cls.push("no-begin"); notes.push("begin missing (estimated)"); }
      if (x[5] === "synthesised") { cls.push("synth-end"); notes.push("end synthesised by reconcile"); }
      if (x[4] === "synthesised") { cls.push("synth-begin"); notes.push("begin synthesised by reconcile"); }
      if (begin == null) begin = end;
      var title = "session " + utc(x[0]) + " → " + (live ? "live" : utc(x[1])) + " UTC (" + local(x[0]) + ")" +
        (x[6] ? " · " + x[6] : "") + (notes.length ? " · " + notes.join(", ") : "") + (x[7] ? " · " + x[7] : "");
      box.appendChild(el("div", { cls: cls.join(" "), style: span(begin, end), title: title, "data-state": state }));
    });
    s.r.forEach(function (r) {
      var attrs = { cls: "rec", style: span(r[0], r[1]), title: r[2] + " recording " + clock(r[0]) + "–" + clock(r[1]) + " UTC, " + size(r[4]) + (r[5] ? " (backfilled)" : "") + " · " + local(r[0]) };
      if (r[3]) { attrs.href = r[3]; attrs.target = "_blank"; attrs.rel = "noopener noreferrer"; }
      box.appendChild(el(r[3] ? "a" : "span", attrs));
    });
    if (s.times.length) {
      var d = s.times.map(function (t) { return "M" + (pct(t) * 10).toFixed(1) + " 0v10"; }).join("");
      var svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
      svg.setAttribute("class", "ticks"); svg.setAttribute("viewBox", "0 0 1000 10"); svg.setAttribute("preserveAspectRatio", "none");
      var path = document.createElementNS("http://www.w3.org/2000/svg", "path"); path.setAttribute("d", d);
      svg.appendChild(path); box.appendChild(svg);
    }
    s.e.forEach(function (e) {
      box.appendChild(el("span", { cls: "health", style: "left:" + pct(e[0]) + "%", title: "push exception at " + utc(e[0]) + " UTC (" + local(e[0]) + "): " + e[1] }));
    });
    s.re.forEach(function (r) {
      if (r[2]) box.appendChild(el("span", { cls: "recfail", style: "left:" + pct(r[0]) + "%", title: r[1] + " at " + utc(r[0]) + " UTC" + (r[3] ? ": " + r[3] : "") }));
    });
    s.h.forEach(function (h) {
      box.appendChild(el("span", { cls: "mark " + h[1] + (h[4] ? "" : " audio"), style: "left:" + pct(h[0]) + "%", title: h[1] + " " + h[2] + " score " + h[3] + " at " + utc(h[0]) + " UTC (" + local(h[0]) + ")" + (h[5] ? ", published" : "") + (h[7] ? ", action: " + h[7] : "") }));
    });
    return box;
  }

  function cells(tag, values) { return el("tr", {}, values.map(function (v) { return el(tag, {}, [v == null ? "" : v]); })); }
  function build(s, detail) {
    if (s.s.length) {
      detail.appendChild(el("h3", { text: "Sessions" }));
      detail.appendChild(el("table", {}, [cells("th", ["begin (UTC)", "end", "duration", "state", "end reason"])].concat(s.s.map(function (x) {
        var marks = [x[4] && "begin " + x[4], x[5] && "end " + x[5], x[7]].filter(Boolean).join("; ");
        return cells("td", [time(x[0], (x[3] ? "~" : "") + utc(x[0])), x[1] == null ? "-" : time(x[1], clock(x[1])),
          x[2] === "live" ? "-" : dur(x[0] != null && x[1] != null ? x[1] - x[0] : null), x[2] + (marks ? " (" + marks + ")" : ""), x[6]]);
      }))));
    }
    if (s.r.length) {
      detail.appendChild(el("h3", { text: "Recordings" }));
      detail.appendChild(el("table", {}, [cells("th", ["format", "start", "end", "size", "playback"])].concat(s.r.map(function (r) {
        var link = r[3] ? el("a", { href: r[3], target: "_blank", rel: "noopener noreferrer", text: r[3] }) : "-";
        return cells("td", [r[2] + (r[5] ? " (backfilled)" : ""), time(r[0], clock(r[0])), time(r[1], clock(r[1])), size(r[4]), link]);
      }))));
    }
    if (s.re.length) {
      detail.appendChild(el("h3", { text: "Recording events" }));
      detail.appendChild(el("table", {}, [cells("th", ["at (UTC)", "event", "detail"])].concat(s.re.map(function (r) {
        return cells("td", [time(r[0], clock(r[0])), r[2] ? el("strong", { cls: "failed", text: r[1] }) : r[1], r[3]]);
      }))));
    }
    if (s.e.length) {
      detail.appendChild(el("h3", { text: "Push exceptions" }));
      detail.appendChild(el("table", {}, [cells("th", ["at (UTC)", "types (count)"])].concat(s.e.map(function (e) {
        return cells("td", [time(e[0], clock(e[0])), e[1]]);
      }))));
    }
    var audio = s.h.filter(function (h) { return !h[4]; });
    if (audio.length) {
      detail.appendChild(el("h3", { text: "Audio moderation hits" }));
      detail.appendChild(el("table", {}, [cells("th", ["at (UTC)", "suggestion", "label", "score", "transcript", "action"])].concat(audio.map(function (h) {
        return cells("td", [time(h[0], clock(h[0])), h[1], h[2], String(h[3]), h[8], h[7] || "-"]);
      }))));
    }
    var items = s.times.map(function (t, i) { return { t: t, url: snapshotUrl(s, i), hit: null }; });
    s.h.forEach(function (h) { items.push({ t: h[0], url: h[4], hit: h }); });
    items = items.filter(function (it) { return it.url; });
    items.sort(function (a, b) { return a.t - b.t; });
    if (!items.length) return;
    detail.appendChild(el("h3", { text: "Snapshots and moderation images (" + items.length + ")" }));
    var strip = el("div", { cls: "strip", role: "list" });
    detail.appendChild(strip);
    var shownItems = 0, moreButton = el("button", { type: "button", cls: "more" });
    function fill() {
      var end = Math.min(shownItems + STRIP, items.length);
      for (; shownItems < end; shownItems++) strip.insertBefore(thumb(s, items[shownItems]), moreButton.parentNode ? moreButton : null);
      if (shownItems < items.length) { moreButton.textContent = "+" + (items.length - shownItems) + " more"; strip.appendChild(moreButton); }
      else if (moreButton.parentNode) strip.removeChild(moreButton);
    }
    moreButton.addEventListener("click", fill);
    fill();
  }
  function thumb(s, it) {
    var label = it.hit ? it.hit[1] + " " + it.hit[2] + " (" + it.hit[3] + ")" + (it.hit[7] ? " " + it.hit[7] : "") + " " + clock(it.t) : "snapshot " + clock(it.t);
    var button = el("button", { type: "button", cls: "thumb" + (it.hit ? " " + it.hit[1] : ""), role: "listitem", title: label + " UTC · " + local(it.t), "aria-label": label + " UTC, enlarge" }, [
      el("img", { src: it.url, loading: "lazy", decoding: "async", alt: "", width: "122", height: "69" }),
      el("span", { text: (it.hit ? it.hit[1] + " " : "") + clock(it.t) })]);
    button.addEventListener("click", function () { enlarge(it, s, button); });
    return button;
  }

  // Lightbox
  var box = document.getElementById("lightbox"), big = document.getElementById("lightbox-img"), caption = document.getElementById("lightbox-caption");
  var returnFocus = null;
  function enlarge(it, s, from) {
    big.src = it.url;
    caption.textContent = s.id + " · " + (it.hit ? it.hit[1] + " " + it.hit[2] + " score " + it.hit[3] + (it.hit[7] ? " · action: " + it.hit[7] : "") + " · " : "snapshot · ") + utc(it.t) + " UTC (" + local(it.t) + ")";
    returnFocus = from; box.hidden = false; box.focus();
  }
  function close() { if (box.hidden) return; box.hidden = true; big.removeAttribute("src"); if (returnFocus) returnFocus.focus(); }
  box.addEventListener("click", function (e) { if (e.target !== big) close(); });
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape") { close(); return; }
    if (e.key === "/" && document.activeElement.tagName !== "INPUT") { e.preventDefault(); document.getElementById("f-name").focus(); }
  });

  apply();
})();
