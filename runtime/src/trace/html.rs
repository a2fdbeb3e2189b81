//! The HTML timeline: one self-contained file (no network, no CDN) that
//! shows a trace in any browser.
//!
//! The records are reduced to what the timeline draws, written into the
//! page as compact JSON arrays: per P, the slices in which a goroutine ran
//! there (start, end, goroutine, the state it left in: blocked, runnable
//! again, ended); the collector's cycles and stops of the world; and
//! markers for what Go's own viewer cannot show (map growth, race
//! reports, lost objects, fatal errors), each with its text. A script in
//! the page draws them on one canvas, a lane per P, coloured by the state
//! each goroutine left the P in, GC cycles shaded behind every lane and
//! stops of the world across them. It draws only the visible time range
//! (binary search per lane) and at most one rectangle per pixel column per
//! lane when zoomed out, so a million events stay interactive. The wheel
//! zooms around the cursor, dragging pans, a double click resets; hovering
//! shows a slice's or marker's details, clicking a marker keeps its full
//! text in the side panel.
//!
//! For tests and screenshots the page records what it drew in the DOM:
//! each lane's label element carries `data-slices` (slices in the lane)
//! and the body `data-rendered` (slices drawn in the first frame),
//! `data-drawms` (how long that frame took) and `data-loadms` (from the
//! start of the page's load to the end of that frame).

use std::io::{self, Write};

use gort_scheduler::trace::{TraceEvent, TraceRecord};

/// How a goroutine left its P, as the timeline colours it.
const LEFT_BLOCKED: u8 = 0;
const LEFT_RUNNABLE: u8 = 1;
const LEFT_ENDED: u8 = 2;
const LEFT_RUNNING: u8 = 3;

/// Writes the timeline of `records` (in recording order) for a run at
/// GOMAXPROCS `procs`.
pub fn write_html(records: &[TraceRecord], procs: usize, out: &mut impl Write) -> io::Result<()> {
    let t = Timeline::build(records, procs);
    out.write_all(HEAD.as_bytes())?;
    write!(out, "<script>const DATA = {{\"procs\":{},", t.procs)?;
    write!(out, "\"end\":{},\"slices\":[", t.end)?;
    for (i, lane) in t.slices.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        out.write_all(b"[")?;
        for (j, s) in lane.iter().enumerate() {
            if j > 0 {
                out.write_all(b",")?;
            }
            write!(out, "{},{},{},{}", s.0, s.1, s.2, s.3)?;
        }
        out.write_all(b"]")?;
    }
    out.write_all(b"],\"gc\":[")?;
    for (i, (a, b)) in t.gc.iter().enumerate() {
        write!(out, "{}{a},{b}", if i > 0 { "," } else { "" })?;
    }
    out.write_all(b"],\"stw\":[")?;
    for (i, (a, b)) in t.stw.iter().enumerate() {
        write!(out, "{}{a},{b}", if i > 0 { "," } else { "" })?;
    }
    out.write_all(b"],\"marks\":[")?;
    for (i, m) in t.marks.iter().enumerate() {
        write!(
            out,
            "{}[{},{},{},{}]",
            if i > 0 { "," } else { "" },
            m.ts,
            m.p.map_or(-1, |p| p as i64),
            json_str(m.kind),
            json_str(&m.text)
        )?;
    }
    out.write_all(b"]};</script>\n")?;
    out.write_all(SCRIPT.as_bytes())?;
    Ok(())
}

struct Mark {
    ts: u64,
    p: Option<usize>,
    kind: &'static str,
    text: String,
}

/// The records reduced to what is drawn.
struct Timeline {
    procs: usize,
    end: u64,
    /// Per P: (start, end, goroutine, how it left).
    slices: Vec<Vec<(u64, u64, u64, u8)>>,
    gc: Vec<(u64, u64)>,
    stw: Vec<(u64, u64)>,
    marks: Vec<Mark>,
}

impl Timeline {
    fn build(records: &[TraceRecord], procs: usize) -> Timeline {
        let nps = records
            .iter()
            .filter_map(|r| r.p)
            .max()
            .map_or(procs, |m| (m + 1).max(procs));
        let mut t = Timeline {
            procs: nps,
            end: 0,
            slices: vec![Vec::new(); nps],
            gc: Vec::new(),
            stw: Vec::new(),
            marks: Vec::new(),
        };
        // The goroutine running on each P since when.
        let mut open: Vec<Option<(u64, u64)>> = vec![None; nps];
        let (mut gc_from, mut stw_from) = (None, None);
        let mut now = 0u64;
        for r in records {
            // Timestamps never go back in recording order (parallel mode
            // reads a clock after taking its place in the order).
            now = now.max(r.ts);
            let close = |open: &mut Vec<Option<(u64, u64)>>, slices: &mut Vec<Vec<_>>, how| {
                if let Some(p) = r.p {
                    if let Some((from, g)) = open[p].take() {
                        slices[p].push((from, now, g, how));
                    }
                }
            };
            match &r.ev {
                TraceEvent::GoStart { g } => {
                    close(&mut open, &mut t.slices, LEFT_RUNNABLE);
                    if let Some(p) = r.p {
                        open[p] = Some((now, *g));
                    }
                }
                TraceEvent::GoBlock { .. } => close(&mut open, &mut t.slices, LEFT_BLOCKED),
                TraceEvent::GoSched | TraceEvent::GoPreempt => {
                    close(&mut open, &mut t.slices, LEFT_RUNNABLE)
                }
                TraceEvent::GoEnd => close(&mut open, &mut t.slices, LEFT_ENDED),
                TraceEvent::ProcStop => close(&mut open, &mut t.slices, LEFT_RUNNABLE),
                TraceEvent::GcStart { .. } => gc_from = Some(now),
                TraceEvent::GcDone => {
                    if let Some(a) = gc_from.take() {
                        t.gc.push((a, now));
                    }
                }
                TraceEvent::StwStart { .. } => stw_from = Some(now),
                TraceEvent::StwDone => {
                    if let Some(a) = stw_from.take() {
                        t.stw.push((a, now));
                    }
                }
                // Too many to mark one by one.
                TraceEvent::MapEvacuate { .. } => {}
                TraceEvent::Log { .. } | TraceEvent::MapGrow { .. } => {
                    let (category, message) = r.ev.as_log().expect("a log event");
                    // Barrier flushes are too many as well; growth,
                    // races and failures are not.
                    if category != "barrier" {
                        t.marks.push(Mark {
                            ts: now,
                            p: r.p,
                            kind: category,
                            text: message.into_owned(),
                        });
                    }
                }
                _ => {}
            }
        }
        t.end = now;
        for (p, o) in open.iter().enumerate() {
            if let Some((from, g)) = o {
                t.slices[p].push((*from, now, *g, LEFT_RUNNING));
            }
        }
        if let Some(a) = gc_from {
            t.gc.push((a, now));
        }
        if let Some(a) = stw_from {
            t.stw.push((a, now));
        }
        t
    }
}

/// `s` as a JSON string literal, safe inside a `<script>` element.
fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\t' => o.push_str("\\t"),
            // `</script>` must not end the element early.
            '<' => o.push_str("\\u003c"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

const HEAD: &str = r##"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>gort trace</title>
<style>
body { font: 13px system-ui, sans-serif; margin: 0; display: flex; flex-direction: column; height: 100vh; }
header { padding: 6px 10px; background: #263238; color: #eceff1; }
header span { margin-right: 14px; }
.key { display: inline-block; width: 10px; height: 10px; margin-right: 4px; vertical-align: middle; }
main { flex: 1; display: flex; min-height: 0; }
#lanes { width: 70px; position: relative; border-right: 1px solid #ccc; }
.lane { position: absolute; left: 6px; font-weight: 600; }
#view { flex: 1; position: relative; }
canvas { position: absolute; left: 0; top: 0; width: 100%; height: 100%; cursor: crosshair; }
#tip { position: absolute; pointer-events: none; background: #fffde7; border: 1px solid #999; padding: 3px 6px; white-space: pre; display: none; max-width: 600px; overflow: hidden; }
#panel { width: 360px; border-left: 1px solid #ccc; overflow: auto; padding: 6px; white-space: pre-wrap; font-family: monospace; font-size: 12px; }
</style></head>
<body>
<header><b>gort trace</b> &nbsp;
<span><i class="key" style="background:#1e88e5"></i>ran, then blocked</span>
<span><i class="key" style="background:#fb8c00"></i>ran, then runnable (preempted, yielded)</span>
<span><i class="key" style="background:#43a047"></i>ran to its end</span>
<span><i class="key" style="background:#8e24aa"></i>running at the end</span>
<span><i class="key" style="background:rgba(244,67,54,.25)"></i>GC cycle</span>
<span><i class="key" style="background:rgba(0,0,0,.35)"></i>stop the world</span>
<span>wheel: zoom, drag: pan, double click: reset, click a marker: its text</span></header>
<main><div id="lanes"></div><div id="view"><canvas id="c"></canvas><div id="tip"></div></div><div id="panel">Markers: map growth (▲ teal), race reports (● red), silent races (○ red), lost objects and fatal errors (■ black). Click one.</div></main>
"##;

const SCRIPT: &str = r##"<script>
(function () {
  const COLORS = ["#1e88e5", "#fb8c00", "#43a047", "#8e24aa"];
  const LEFT = ["blocked", "runnable", "ended", "running at the end"];
  const lanes = [];
  for (let p = 0; p < DATA.procs; p++) {
    const a = DATA.slices[p] || [];
    const n = a.length / 4;
    lanes.push({ a: a, n: n });
  }
  const cv = document.getElementById("c"), view = document.getElementById("view");
  const tip = document.getElementById("tip"), panel = document.getElementById("panel");
  const labels = document.getElementById("lanes");
  const ctx = cv.getContext("2d");
  const end = Math.max(DATA.end, 1);
  let t0 = 0, t1 = end, W = 0, H = 0, laneH = 40, top = 24;
  const label = [];
  for (let p = 0; p < DATA.procs; p++) {
    const d = document.createElement("div");
    d.className = "lane"; d.textContent = "P" + p;
    d.dataset.p = p; d.dataset.slices = lanes[p].n;
    labels.appendChild(d); label.push(d);
  }
  function resize() {
    const r = view.getBoundingClientRect();
    W = r.width; H = r.height;
    cv.width = W * devicePixelRatio; cv.height = H * devicePixelRatio;
    ctx.setTransform(devicePixelRatio, 0, 0, devicePixelRatio, 0, 0);
    laneH = Math.max(18, Math.min(60, (H - top - 10) / Math.max(1, DATA.procs)));
    label.forEach((d, p) => d.style.top = (top + p * laneH + laneH / 2 - 8) + "px");
    draw();
  }
  const x = t => (t - t0) / (t1 - t0) * W;
  const tAt = px => t0 + px / W * (t1 - t0);
  function first(a, n, t) { // first slice ending after t
    let lo = 0, hi = n;
    while (lo < hi) { const m = (lo + hi) >> 1; if (a[m * 4 + 1] < t) lo = m + 1; else hi = m; }
    return lo;
  }
  function fmt(ns) {
    if (ns >= 1e9) return (ns / 1e9).toFixed(3) + " s";
    if (ns >= 1e6) return (ns / 1e6).toFixed(3) + " ms";
    if (ns >= 1e3) return (ns / 1e3).toFixed(3) + " us";
    return ns + " ns";
  }
  let drawn = 0, drawMs = 0;
  function draw() {
    const started = performance.now();
    ctx.clearRect(0, 0, W, H);
    drawn = 0;
    for (let p = 0; p < DATA.procs; p++) {
      ctx.fillStyle = p % 2 ? "#fafafa" : "#f0f0f0";
      ctx.fillRect(0, top + p * laneH, W, laneH);
    }
    ctx.fillStyle = "rgba(244,67,54,.25)";
    for (let i = 0; i < DATA.gc.length; i += 2) {
      const a = x(DATA.gc[i]), b = x(DATA.gc[i + 1]);
      if (b >= 0 && a <= W) ctx.fillRect(a, top, Math.max(1, b - a), H - top);
    }
    for (let p = 0; p < DATA.procs; p++) {
      const L = lanes[p], y = top + p * laneH;
      let lastCol = -1;
      for (let i = first(L.a, L.n, t0); i < L.n; i++) {
        const s = L.a[i * 4], e = L.a[i * 4 + 1];
        if (s > t1) break;
        const a = Math.max(0, x(s)), b = Math.min(W, x(e));
        const col = Math.floor(a);
        if (b - a < 1 && col === lastCol) continue; // one per pixel column
        lastCol = col;
        ctx.fillStyle = COLORS[L.a[i * 4 + 3]];
        ctx.fillRect(a, y + 3, Math.max(1, b - a), laneH - 6);
        drawn++;
      }
    }
    ctx.fillStyle = "rgba(0,0,0,.35)";
    for (let i = 0; i < DATA.stw.length; i += 2) {
      const a = x(DATA.stw[i]), b = x(DATA.stw[i + 1]);
      if (b >= 0 && a <= W) ctx.fillRect(a, top, Math.max(2, b - a), H - top);
    }
    for (const m of DATA.marks) {
      const px = x(m[0]);
      if (px < -5 || px > W + 5) continue;
      const p = m[1] < 0 ? 0 : m[1], y = top + p * laneH + laneH / 2;
      ctx.beginPath();
      if (m[2] === "map") { ctx.fillStyle = "#00897b"; ctx.moveTo(px, y - 7); ctx.lineTo(px - 6, y + 5); ctx.lineTo(px + 6, y + 5); ctx.fill(); }
      else if (m[2] === "race") { ctx.fillStyle = "#e53935"; ctx.arc(px, y, 6, 0, 7); ctx.fill(); }
      else if (m[2].startsWith("race")) { ctx.strokeStyle = "#e53935"; ctx.lineWidth = 2; ctx.arc(px, y, 6, 0, 7); ctx.stroke(); }
      else { ctx.fillStyle = "#000"; ctx.fillRect(px - 6, y - 6, 12, 12); }
    }
    ctx.fillStyle = "#333";
    ctx.fillText(fmt(Math.round(t0)), 4, 14);
    const r = fmt(Math.round(t1)); ctx.fillText(r, W - ctx.measureText(r).width - 4, 14);
    drawMs = performance.now() - started;
  }
  function hit(px, py) {
    for (const m of DATA.marks) {
      const p = m[1] < 0 ? 0 : m[1], y = top + p * laneH + laneH / 2;
      if (Math.abs(x(m[0]) - px) <= 7 && Math.abs(y - py) <= 7) return { mark: m };
    }
    const p = Math.floor((py - top) / laneH);
    if (p < 0 || p >= DATA.procs) return null;
    const L = lanes[p], t = tAt(px), slack = (t1 - t0) / W * 2;
    const i = first(L.a, L.n, t - slack);
    if (i < L.n && L.a[i * 4] <= t + slack) return { p: p, i: i };
    return null;
  }
  cv.addEventListener("mousemove", ev => {
    const r = cv.getBoundingClientRect(), px = ev.clientX - r.left, py = ev.clientY - r.top;
    if (drag) { const dt = (drag - px) / W * (t1 - t0); t0 += dt; t1 += dt; drag = px; draw(); return; }
    const h = hit(px, py);
    if (!h) { tip.style.display = "none"; return; }
    let text;
    if (h.mark) text = h.mark[2] + " at " + fmt(h.mark[0]) + "\n" + h.mark[3].split("\n").slice(0, 8).join("\n");
    else { const a = lanes[h.p].a, i = h.i * 4;
      text = "G" + a[i + 2] + " on P" + h.p + "\n" + fmt(a[i]) + " .. " + fmt(a[i + 1]) + " (" + fmt(a[i + 1] - a[i]) + ")\nthen " + LEFT[a[i + 3]]; }
    tip.textContent = text; tip.style.display = "block";
    tip.style.left = Math.min(px + 12, W - 300) + "px"; tip.style.top = (py + 12) + "px";
  });
  let drag = null;
  cv.addEventListener("mousedown", ev => { drag = ev.clientX - cv.getBoundingClientRect().left; });
  window.addEventListener("mouseup", () => { drag = null; });
  cv.addEventListener("click", ev => {
    const r = cv.getBoundingClientRect(), h = hit(ev.clientX - r.left, ev.clientY - r.top);
    if (h && h.mark) panel.textContent = h.mark[2] + " at " + fmt(h.mark[0]) + (h.mark[1] >= 0 ? " on P" + h.mark[1] : "") + "\n\n" + h.mark[3];
  });
  cv.addEventListener("wheel", ev => {
    ev.preventDefault();
    const r = cv.getBoundingClientRect(), t = tAt(ev.clientX - r.left);
    const k = Math.exp(ev.deltaY * 0.002);
    t0 = t - (t - t0) * k; t1 = t + (t1 - t) * k;
    if (t1 - t0 < 10) { t1 = t0 + 10; }
    draw();
  }, { passive: false });
  cv.addEventListener("dblclick", () => { t0 = 0; t1 = end; draw(); });
  window.addEventListener("resize", resize);
  resize();
  document.body.dataset.rendered = drawn;
  document.body.dataset.drawms = drawMs.toFixed(1);
  document.body.dataset.loadms = performance.now().toFixed(0);
  document.body.dataset.marks = DATA.marks.length;
})();
</script></body></html>
"##;

#[cfg(test)]
mod tests {
    use super::*;
    use gort_scheduler::trace::BlockReason;

    fn rec(seq: u64, ts: u64, p: Option<usize>, g: u64, ev: TraceEvent) -> TraceRecord {
        TraceRecord { seq, ts, p, g, ev }
    }

    #[test]
    fn slices_gc_and_markers_are_extracted() {
        let r = vec![
            rec(0, 0, Some(0), 1, TraceEvent::GoStart { g: 1 }),
            rec(
                1,
                10,
                Some(0),
                1,
                TraceEvent::GoBlock {
                    reason: BlockReason::Recv,
                },
            ),
            rec(2, 12, Some(1), 0, TraceEvent::GoStart { g: 5 }),
            rec(3, 15, None, 0, TraceEvent::GcStart { seq: 0 }),
            rec(
                4,
                16,
                Some(1),
                5,
                TraceEvent::Log {
                    category: "race",
                    message: "x</script>".into(),
                },
            ),
            rec(5, 20, Some(1), 5, TraceEvent::GoEnd),
            rec(6, 30, None, 0, TraceEvent::GcDone),
        ];
        let t = Timeline::build(&r, 2);
        assert_eq!(t.slices[0], [(0, 10, 1, LEFT_BLOCKED)]);
        assert_eq!(t.slices[1], [(12, 20, 5, LEFT_ENDED)]);
        assert_eq!(t.gc, [(15, 30)]);
        assert_eq!(t.marks.len(), 1);
        let mut out = Vec::new();
        write_html(&r, 2, &mut out).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(
            s.contains("x\\u003c/script>"),
            "a report cannot end the script"
        );
        assert!(
            !s.contains("http://") && !s.contains("https://"),
            "self-contained"
        );
    }
}
