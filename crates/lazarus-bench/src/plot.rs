//! The plot of a run, as PNG and as SVG from the same drawing: a title and a legend, then one
//! section per goal (its text and verdict) with one panel per workload. A panel groups the
//! figures of its variants (deleted share, size, children, versions), one horizontal bar per
//! system with the system's name on its left and its value written at its end, on a linear
//! axis with ticks and a labelled unit. A system that cannot do a workload shows `-`.
//!
//! Text is drawn with the harness's own bitmap font ([`crate::font`]), so the PNG needs nothing
//! from the system; the SVG names a monospace font and fixes each text's length to the same
//! metrics.

use serde_json::{json, Value};

use crate::error::{BenchError, Result};
use crate::font;
use crate::goals::{self, find, values_of, verdict_word};
use crate::report::{format_value, higher_is_better, three_digits, RunInfo};
use crate::systems::{system_names, LAZARUSDB};
use crate::workloads::count_label;
use crate::{Measurement, DISK};

/// A colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

const WHITE: Rgb = Rgb(255, 255, 255);
const BLACK: Rgb = Rgb(20, 20, 20);
const GREY: Rgb = Rgb(110, 110, 110);
const LIGHT: Rgb = Rgb(225, 225, 225);
const GREEN: Rgb = Rgb(20, 130, 40);
const RED: Rgb = Rgb(200, 30, 30);

/// The colour of a system: lazarusdb red, our other engines lighter reds, SQLite blues, raw
/// engines greens and purple, the disk grey.
pub fn color(system: &str) -> Rgb {
    match system {
        LAZARUSDB => Rgb(214, 39, 40),
        "sqlite-soft-delete" => Rgb(31, 119, 180),
        "sqlite-shadow" => Rgb(120, 175, 215),
        "fjall-raw" => Rgb(44, 160, 44),
        "sled-raw" => Rgb(140, 210, 125),
        "redb-raw" => Rgb(148, 103, 189),
        DISK => Rgb(127, 127, 127),
        s if s.starts_with("lazarusdb") => {
            let ours = [Rgb(250, 140, 130), Rgb(230, 110, 170), Rgb(245, 175, 90)];
            let i = system_names()
                .iter()
                .filter(|n| n.starts_with("lazarusdb") && n.as_str() != LAZARUSDB)
                .position(|n| n == s)
                .unwrap_or(0);
            ours.get(i % ours.len()).copied().unwrap_or(GREY)
        }
        _ => GREY,
    }
}

/// Halfway to white.
fn lighter(c: Rgb) -> Rgb {
    let l = |v: u8| ((v as u16 + 255) / 2) as u8;
    Rgb(l(c.0), l(c.1), l(c.2))
}

/// Where drawing goes: a bitmap or an SVG document.
trait Canvas {
    fn fill(&mut self, x: i64, y: i64, w: i64, h: i64, c: Rgb);
    /// Text with its top-left corner at (x, y), each font pixel `scale` pixels.
    fn text(&mut self, x: i64, y: i64, s: &str, scale: i64, c: Rgb);
}

/// The width of `s` drawn at `scale`.
fn text_width(s: &str, scale: i64) -> i64 {
    let n = font::ascii(s).chars().count() as i64;
    if n == 0 {
        0
    } else {
        (n * font::ADVANCE - 1) * scale
    }
}

struct Bitmap {
    w: i64,
    h: i64,
    rgb: Vec<u8>,
}

impl Bitmap {
    fn new(w: i64, h: i64) -> Bitmap {
        Bitmap {
            w,
            h,
            rgb: vec![255; (w.max(1) * h.max(1) * 3) as usize],
        }
    }
}

impl Canvas for Bitmap {
    fn fill(&mut self, x: i64, y: i64, w: i64, h: i64, c: Rgb) {
        let (x0, x1) = (x.max(0), (x + w).min(self.w));
        let (y0, y1) = (y.max(0), (y + h).min(self.h));
        for yy in y0..y1 {
            for xx in x0..x1 {
                let at = ((yy * self.w + xx) * 3) as usize;
                if let Some(px) = self.rgb.get_mut(at..at + 3) {
                    px.copy_from_slice(&[c.0, c.1, c.2]);
                }
            }
        }
    }

    fn text(&mut self, x: i64, y: i64, s: &str, scale: i64, c: Rgb) {
        for (i, ch) in font::ascii(s).chars().enumerate() {
            let gx = x + i as i64 * font::ADVANCE * scale;
            for (row, bits) in font::glyph(ch).iter().enumerate() {
                for col in 0..font::WIDTH {
                    if bits & (1 << (font::WIDTH - 1 - col)) != 0 {
                        self.fill(gx + col * scale, y + row as i64 * scale, scale, scale, c);
                    }
                }
            }
        }
    }
}

struct Svg {
    body: String,
}

fn hex(c: Rgb) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl Canvas for Svg {
    fn fill(&mut self, x: i64, y: i64, w: i64, h: i64, c: Rgb) {
        self.body.push_str(&format!(
            "<rect x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{h}\" fill=\"{}\"/>\n",
            hex(c)
        ));
    }

    fn text(&mut self, x: i64, y: i64, s: &str, scale: i64, c: Rgb) {
        if s.trim().is_empty() {
            return;
        }
        self.body.push_str(&format!(
            "<text x=\"{x}\" y=\"{}\" font-size=\"{}\" textLength=\"{}\" lengthAdjust=\"spacingAndGlyphs\" fill=\"{}\">{}</text>\n",
            y + font::BASELINE * scale,
            10 * scale,
            text_width(s, scale),
            hex(c),
            escape(&font::ascii(s))
        ));
    }
}

// The model: sections of panels of groups of bars -------------------------------------------

struct Bar {
    name: String,
    color: Rgb,
    value: Option<f64>,
}

struct Group {
    label: String,
    bars: Vec<Bar>,
}

struct Panel {
    title: String,
    unit: String,
    groups: Vec<Group>,
}

struct Section {
    title: String,
    verdict: String,
    met: Option<bool>,
    panels: Vec<Panel>,
}

/// The bars of every system for one figure (label).
fn system_bars(ms: &[Measurement], workload: &str, params: &[(&str, Value)]) -> Vec<Bar> {
    system_names()
        .into_iter()
        .map(|s| Bar {
            value: find(ms, workload, &s, params).map(|m| m.value),
            color: color(&s),
            name: s,
        })
        .collect()
}

fn unit_of(ms: &[Measurement], workload: &str) -> String {
    ms.iter()
        .find(|m| m.workload == workload)
        .map(|m| m.unit.clone())
        .unwrap_or_default()
}

/// A panel with one group per value of `key` (labelled by `label`), every system in each.
fn panel_over(
    ms: &[Measurement],
    title: String,
    workload: &str,
    fixed: &[(&str, Value)],
    key: &str,
    label: impl Fn(u64) -> String,
) -> Option<Panel> {
    let values = values_of(ms, workload, key);
    let groups: Vec<Group> = values
        .iter()
        .map(|v| {
            let mut params = fixed.to_vec();
            params.push((key, json!(v)));
            Group {
                label: label(*v),
                bars: system_bars(ms, workload, &params),
            }
        })
        .filter(|g| g.bars.iter().any(|b| b.value.is_some()))
        .collect();
    (!groups.is_empty()).then(|| Panel {
        title,
        unit: unit_of(ms, workload),
        groups,
    })
}

fn sections(ms: &[Measurement]) -> Vec<Section> {
    let verdicts = goals::judge(ms);
    let mut panels: Vec<Vec<Panel>> = (0..8).map(|_| Vec::new()).collect();
    let mut add = |goal: usize, p: Option<Panel>| {
        if let (Some(list), Some(p)) = (panels.get_mut(goal - 1), p) {
            list.push(p);
        }
    };
    // 1
    for rows in values_of(ms, "live_scan", "rows") {
        let size = count_label(rows);
        for (workload, what) in [
            ("live_scan", "live scan"),
            ("child_lookup", "child lookup by foreign key"),
        ] {
            add(
                1,
                panel_over(
                    ms,
                    format!("{what}, {size} rows: time per live row"),
                    workload,
                    &[("rows", json!(rows))],
                    "deleted_pct",
                    |p| format!("{p} % deleted"),
                ),
            );
        }
    }
    // 2
    for rows in values_of(ms, "get", "rows") {
        let p = [("rows", json!(rows))];
        let groups: Vec<Group> = [("get", "get (untyped)"), ("get_as", "get_as (typed)")]
            .iter()
            .map(|(w, l)| Group {
                label: l.to_string(),
                bars: system_bars(ms, w, &p),
            })
            .collect();
        add(
            2,
            Some(Panel {
                title: format!("point get, {} rows: time per get", count_label(rows)),
                unit: "ns/op".into(),
                groups,
            }),
        );
    }
    // 3
    for (live, past, what, unit) in [
        ("as_of_live_get", "as_of_get", "get", "ns/op"),
        ("as_of_live_scan", "as_of_scan", "scan", "ns/row"),
        (
            "as_of_live_lookup",
            "as_of_lookup",
            "child lookup",
            "ns/row",
        ),
    ] {
        let groups: Vec<Group> = values_of(ms, past, "versions")
            .into_iter()
            .map(|v| {
                let p = [("versions", json!(v))];
                let mut bars = Vec::new();
                for s in system_names().iter().filter(|s| s.starts_with("lazarusdb")) {
                    for (workload, kind, shade) in [(live, "live", true), (past, "as of", false)] {
                        let Some(m) = find(ms, workload, s, &p) else {
                            continue;
                        };
                        bars.push(Bar {
                            name: format!("{s}, {kind}"),
                            color: if shade { lighter(color(s)) } else { color(s) },
                            value: Some(m.value),
                        });
                    }
                }
                Group {
                    label: format!("{v} version{} per row", if v == 1 { "" } else { "s" }),
                    bars,
                }
            })
            .filter(|g| !g.bars.is_empty())
            .collect();
        if !groups.is_empty() {
            add(
                3,
                Some(Panel {
                    title: format!(
                        "{what}, live and as of the middle of the history: {}",
                        if unit == "ns/op" {
                            "time per get"
                        } else {
                            "time per row"
                        }
                    ),
                    unit: unit.into(),
                    groups,
                }),
            );
        }
    }
    // 4
    for durability in ["eventual", "immediate"] {
        for (op, what) in [("cascade_delete", "cascade delete"), ("restore", "restore")] {
            add(
                4,
                panel_over(
                    ms,
                    format!("{what}, {durability} durability: time per row"),
                    &format!("{op}_{durability}"),
                    &[],
                    "children",
                    |n| format!("{n} children per parent"),
                ),
            );
        }
    }
    // 5, 7
    add(
        5,
        panel_over(
            ms,
            "ingest, durable 1,000-row transactions: rows per second".into(),
            "ingest",
            &[],
            "rows",
            |r| format!("{} rows", count_label(r)),
        ),
    );
    add(
        7,
        panel_over(
            ms,
            "disk bytes per row after compact (the ingest store)".into(),
            "disk_bytes",
            &[],
            "rows",
            |r| format!("{} rows", count_label(r)),
        ),
    );
    // 6
    for (workload, what) in [
        ("open", "open after a clean close"),
        ("cli_get", "CLI get, a whole lazarus process"),
        ("open_after_crash", "open after a killed writer"),
    ] {
        add(
            6,
            panel_over(ms, format!("{what}: time"), workload, &[], "rows", |r| {
                format!("{} rows", count_label(r))
            }),
        );
    }
    // 8
    let mut groups: Vec<Group> = values_of(ms, "commits", "writers")
        .into_iter()
        .map(|w| Group {
            label: format!("{w} writer{}", if w == 1 { "" } else { "s" }),
            bars: system_bars(ms, "commits", &[("writers", json!(w))]),
        })
        .collect();
    if let (Some(first), Some(d)) = (groups.first_mut(), find(ms, "fdatasync", DISK, &[])) {
        first.bars.push(Bar {
            name: "disk: fdatasync".into(),
            color: color(DISK),
            value: Some(d.value),
        });
    }
    if !groups.is_empty() {
        add(
            8,
            Some(Panel {
                title: "durable single-row commits: commits per second".into(),
                unit: "commits/s".into(),
                groups,
            }),
        );
    }
    verdicts
        .into_iter()
        .zip(panels)
        .map(|(v, panels)| Section {
            title: format!("Goal {}: {}", v.goal, v.text),
            verdict: format!("{}: {}", verdict_word(v.met), goals::checks_line(&v)),
            met: v.met,
            panels,
        })
        .filter(|s| !s.panels.is_empty())
        .collect()
}

// Layout -------------------------------------------------------------------------------------

const S: i64 = 2; // text scale
const CHAR_W: i64 = font::ADVANCE * S;
const LINE: i64 = font::HEIGHT * S + 8;
const MARGIN: i64 = 24;
const PANEL_W: i64 = 780;
const COLUMNS: i64 = 2;
const WIDTH: i64 = MARGIN + COLUMNS * (PANEL_W + MARGIN);
const BAR_H: i64 = font::HEIGHT * S + 4;
const BAR_PITCH: i64 = BAR_H + 4;
const PAD: i64 = 12;

/// Splits text into lines of at most `max` characters, at spaces.
fn wrap(text: &str, max: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > max {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// The width of the name column: the longest bar name of the whole plot.
fn name_width(sections: &[Section]) -> i64 {
    sections
        .iter()
        .flat_map(|s| &s.panels)
        .flat_map(|p| &p.groups)
        .flat_map(|g| &g.bars)
        .map(|b| text_width(&b.name, S))
        .max()
        .unwrap_or(0)
        + PAD
        + 8
}

fn panel_title_lines(p: &Panel) -> Vec<String> {
    let max = ((PANEL_W - 2 * PAD) / CHAR_W) as usize;
    let better = if higher_is_better(&p.unit) {
        "(higher is better)"
    } else {
        "(lower is better)"
    };
    wrap(&format!("{} {better}", p.title), max)
}

fn panel_height(p: &Panel) -> i64 {
    let bars: i64 = p.groups.iter().map(|g| g.bars.len() as i64).sum();
    PAD + panel_title_lines(p).len() as i64 * LINE
        + p.groups.len() as i64 * (LINE + 6)
        + bars * BAR_PITCH
        + 8
        + 6
        + LINE
        + LINE
        + PAD
}

/// A step of 1, 2 or 5 × 10^k giving about five ticks up to `max`.
fn nice_step(max: f64) -> f64 {
    let raw = (max / 5.0).max(f64::MIN_POSITIVE);
    let p = 10f64.powf(raw.log10().floor());
    let f = raw / p;
    let m = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * p
}

/// The axis's unit for values up to `max` of `unit`: the divisor and its name.
fn axis_unit(max: f64, unit: &str) -> (f64, String) {
    if unit.starts_with("ns") {
        let per = unit.strip_prefix("ns").unwrap_or("");
        let (d, u) = if max < 1e3 {
            (1.0, "ns")
        } else if max < 1e6 {
            (1e3, "us")
        } else if max < 1e9 {
            (1e6, "ms")
        } else {
            (1e9, "s")
        };
        (d, format!("{u}{per}"))
    } else if unit.ends_with("/s") {
        if max < 1e4 {
            (1.0, unit.to_string())
        } else if max < 1e7 {
            (1e3, format!("thousand {unit}"))
        } else {
            (1e6, format!("million {unit}"))
        }
    } else {
        (1.0, unit.to_string())
    }
}

fn tick_label(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        let s = three_digits(v);
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    }
}

fn draw_panel(c: &mut dyn Canvas, p: &Panel, x: i64, y: i64, names: i64) {
    let h = panel_height(p);
    c.fill(x, y, PANEL_W, h, LIGHT);
    c.fill(x + 1, y + 1, PANEL_W - 2, h - 2, WHITE);
    let mut yy = y + PAD;
    for line in panel_title_lines(p) {
        c.text(x + PAD, yy, &line, S, BLACK);
        yy += LINE;
    }
    let max = p
        .groups
        .iter()
        .flat_map(|g| &g.bars)
        .filter_map(|b| b.value)
        .fold(0.0, f64::max);
    let step = nice_step(max.max(1e-9));
    let top = (max / step).ceil().max(1.0) * step;
    let value_room = 10 * CHAR_W;
    let x0 = x + PAD + names;
    let plot_w = PANEL_W - 2 * PAD - names - value_room;
    let scale = |v: f64| ((v / top) * plot_w as f64).round() as i64;
    let grid_top = yy;
    let bars: i64 = p.groups.iter().map(|g| g.bars.len() as i64).sum();
    let grid_bottom = grid_top + p.groups.len() as i64 * (LINE + 6) + bars * BAR_PITCH + 4;
    // grid lines at the ticks
    let ticks = (top / step).round() as i64;
    for i in 0..=ticks {
        let tx = x0 + scale(i as f64 * step);
        c.fill(tx, grid_top, 1, grid_bottom - grid_top, LIGHT);
    }
    for g in &p.groups {
        yy += 6;
        c.text(x + PAD, yy, &g.label, S, BLACK);
        yy += LINE;
        for b in &g.bars {
            c.text(x + PAD + 8, yy + 2, &b.name, S, GREY);
            match b.value {
                Some(v) => {
                    let w = scale(v).max(1);
                    c.fill(x0, yy, w, BAR_H, b.color);
                    c.text(
                        x0 + w + 6,
                        yy + 2,
                        &format_value(v, &p.unit, true),
                        S,
                        BLACK,
                    );
                }
                None => c.text(x0 + 6, yy + 2, "-", S, GREY),
            }
            yy += BAR_PITCH;
        }
    }
    // the axis: a line, ticks and their labels, the unit
    let axis_y = grid_bottom;
    c.fill(x0, axis_y, plot_w + 1, 2, BLACK);
    let (div, unit_name) = axis_unit(top, &p.unit);
    for i in 0..=ticks {
        let v = i as f64 * step;
        let tx = x0 + scale(v);
        c.fill(tx, axis_y, 2, 8, BLACK);
        let label = tick_label(v / div);
        let lw = text_width(&label, S);
        c.text(tx - lw / 2, axis_y + 12, &label, S, BLACK);
    }
    let ul = unit_name
        .replace("/op", " per read")
        .replace("/row", " per row");
    let uw = text_width(&ul, S);
    c.text(x0 + (plot_w - uw) / 2, axis_y + 12 + LINE, &ul, S, GREY);
}

/// The whole drawing: its size, and a function drawing it on a canvas.
fn layout<'a>(
    ms: &'a [Measurement],
    info: &'a RunInfo,
) -> (i64, i64, impl Fn(&mut dyn Canvas) + 'a) {
    let sections = sections(ms);
    let names = name_width(&sections);
    let max_chars = ((WIDTH - 2 * MARGIN) / CHAR_W) as usize;
    let title = format!(
        "lazarus bench: {} run, {}, commit {}",
        if info.quick { "quick" } else { "full" },
        info.date.get(..19).unwrap_or(&info.date),
        info.commit.get(..12).unwrap_or(&info.commit)
    );
    let subtitle = format!(
        "{} cores, {}; each figure the median of its repetitions; - where a system cannot do the workload",
        info.machine.get("cores").and_then(Value::as_u64).unwrap_or(0),
        info.machine
            .get("os")
            .and_then(Value::as_str)
            .unwrap_or("unknown OS")
    );
    let subtitle_lines = wrap(&subtitle, max_chars);
    let legend = system_names();
    // legend items flow in rows
    let mut legend_rows = 1;
    let mut lx = MARGIN;
    for s in &legend {
        let w = 24 + text_width(s, S) + 28;
        if lx + w > WIDTH - MARGIN {
            legend_rows += 1;
            lx = MARGIN;
        }
        lx += w;
    }
    let head = MARGIN
        + 3 * font::HEIGHT
        + 16
        + subtitle_lines.len() as i64 * LINE
        + legend_rows * LINE
        + MARGIN;
    let section_heights: Vec<(Vec<String>, Vec<String>, i64)> = sections
        .iter()
        .map(|s| {
            let t = wrap(&s.title, max_chars);
            let v = wrap(&s.verdict, max_chars);
            let rows: i64 = s
                .panels
                .chunks(COLUMNS as usize)
                .map(|row| row.iter().map(panel_height).max().unwrap_or(0) + MARGIN)
                .sum();
            let h = (t.len() + v.len()) as i64 * LINE + 10 + rows + MARGIN;
            (t, v, h)
        })
        .collect();
    let height = head + section_heights.iter().map(|s| s.2).sum::<i64>();
    let draw = move |c: &mut dyn Canvas| {
        c.fill(0, 0, WIDTH, height, WHITE);
        let mut y = MARGIN;
        c.text(MARGIN, y, &title, 3, BLACK);
        y += 3 * font::HEIGHT + 16;
        for line in &subtitle_lines {
            c.text(MARGIN, y, line, S, GREY);
            y += LINE;
        }
        let mut lx = MARGIN;
        for s in &legend {
            let w = 24 + text_width(s, S) + 28;
            if lx + w > WIDTH - MARGIN {
                y += LINE;
                lx = MARGIN;
            }
            c.fill(lx, y, 18, font::HEIGHT * S, color(s));
            c.text(lx + 24, y, s, S, BLACK);
            lx += w;
        }
        y += LINE + MARGIN;
        for (s, (t, v, _)) in sections.iter().zip(&section_heights) {
            c.fill(MARGIN, y - 8, WIDTH - 2 * MARGIN, 2, BLACK);
            for line in t {
                c.text(MARGIN, y, line, S, BLACK);
                y += LINE;
            }
            let tone = match s.met {
                Some(true) => GREEN,
                Some(false) => RED,
                None => GREY,
            };
            for line in v {
                c.text(MARGIN, y, line, S, tone);
                y += LINE;
            }
            y += 10;
            for row in s.panels.chunks(COLUMNS as usize) {
                let mut x = MARGIN;
                for p in row {
                    draw_panel(c, p, x, y, names);
                    x += PANEL_W + MARGIN;
                }
                y += row.iter().map(panel_height).max().unwrap_or(0) + MARGIN;
            }
            y += MARGIN;
        }
    };
    (WIDTH, height, draw)
}

/// The plot as PNG bytes.
pub fn png(ms: &[Measurement], info: &RunInfo) -> Result<Vec<u8>> {
    let (w, h, draw) = layout(ms, info);
    let mut bitmap = Bitmap::new(w, h);
    draw(&mut bitmap);
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, w as u32, h as u32);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder
            .write_header()
            .map_err(|e| BenchError::Plot(e.to_string()))?;
        writer
            .write_image_data(&bitmap.rgb)
            .map_err(|e| BenchError::Plot(e.to_string()))?;
        writer
            .finish()
            .map_err(|e| BenchError::Plot(e.to_string()))?;
    }
    Ok(out)
}

/// The plot as an SVG document.
pub fn svg(ms: &[Measurement], info: &RunInfo) -> String {
    let (w, h, draw) = layout(ms, info);
    let mut svg = Svg {
        body: String::new(),
    };
    draw(&mut svg);
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"DejaVu Sans Mono, Menlo, Consolas, monospace\">\n{}</svg>\n",
        svg.body
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round() {
        assert_eq!(nice_step(1000.0), 200.0);
        assert_eq!(nice_step(7.3), 2.0);
        assert_eq!(nice_step(0.42), 0.1);
        assert_eq!(tick_label(0.5), "0.5");
        assert_eq!(tick_label(200.0), "200");
    }

    #[test]
    fn text_wraps_at_spaces() {
        assert_eq!(wrap("aa bb cc", 5), vec!["aa bb", "cc"]);
    }
}
