//! Small SVG writer for the HTML page: a time scale, rows with a label,
//! bars and markers with hover titles, and a time axis. Inline SVG in
//! HTML needs no namespace URL, so the page stays free of any address.

use std::fmt::Write as _;

use crate::analysis::rules::fmt_dur;

/// Escapes text for HTML and SVG (element text and attribute values).
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Width of the label column.
pub const LABEL_W: f64 = 110.0;
/// Height of one row.
pub const ROW_H: f64 = 20.0;
/// Height of the time axis.
pub const AXIS_H: f64 = 24.0;

/// Maps times in [t0, t1] to x in [LABEL_W, LABEL_W + width].
#[derive(Clone, Copy, Debug)]
pub struct Scale {
    t0: u64,
    t1: u64,
    width: f64,
}

impl Scale {
    /// A scale over [t0, t1] (widened to 1 ns when empty) `width` px wide.
    pub fn new(t0: u64, t1: u64, width: f64) -> Self {
        Scale {
            t0,
            t1: t1.max(t0 + 1),
            width,
        }
    }

    /// x of a time (clamped to the drawing).
    pub fn x(&self, ts: u64) -> f64 {
        let ts = ts.clamp(self.t0, self.t1);
        LABEL_W + (ts - self.t0) as f64 / (self.t1 - self.t0) as f64 * self.width
    }

    /// x and width of [a, b], at least 1.5 px wide so that a microsecond
    /// join still shows on a minute-long axis.
    pub fn span(&self, a: u64, b: u64) -> (f64, f64) {
        let (xa, xb) = (self.x(a), self.x(b.max(a)));
        let w = (xb - xa).max(1.5);
        (xa.min(LABEL_W + self.width - w), w)
    }

    /// Whether [a, b] touches the drawing.
    pub fn shows(&self, a: u64, b: u64) -> bool {
        b >= self.t0 && a <= self.t1
    }

    /// Start of the drawing.
    pub fn t0(&self) -> u64 {
        self.t0
    }

    /// End of the drawing.
    pub fn t1(&self) -> u64 {
        self.t1
    }
}

/// An SVG drawing being built row by row.
pub struct Svg {
    body: String,
    /// Scale of the time axis.
    pub scale: Scale,
    rows: usize,
    class: String,
    label: String,
}

impl Svg {
    /// A drawing of `class` (CSS class and test hook) with an axis over
    /// the scale; `label` is its accessible name.
    pub fn new(scale: Scale, class: &str, label: &str) -> Self {
        let mut s = Svg {
            body: String::new(),
            scale,
            rows: 0,
            class: class.into(),
            label: label.into(),
        };
        s.axis();
        s
    }

    fn y(&self, row: usize) -> f64 {
        AXIS_H + row as f64 * ROW_H
    }

    fn axis(&mut self) {
        let span = self.scale.t1 - self.scale.t0;
        // A "nice" step giving 5 to 10 ticks: 1, 2 or 5 times a power of ten.
        let mut step = 1u64;
        while span / step > 10 {
            step = match step.to_string().as_bytes()[0] {
                b'1' => step * 2,
                b'2' => step / 2 * 5,
                _ => step * 2,
            };
        }
        let right = LABEL_W + self.scale.width;
        let _ = write!(
            self.body,
            r#"<line class="axis" x1="{LABEL_W}" y1="{y}" x2="{right}" y2="{y}"/>"#,
            y = AXIS_H - 4.0
        );
        let mut t = 0;
        while t <= span {
            let x = self.scale.x(self.scale.t0 + t);
            let _ = write!(
                self.body,
                r#"<line class="tick" x1="{x:.1}" y1="{a}" x2="{x:.1}" y2="{b}"/><text class="tick-label" x="{x:.1}" y="{ty}">+{}</text>"#,
                esc(&fmt_dur(t)),
                a = AXIS_H - 8.0,
                b = AXIS_H - 4.0,
                ty = AXIS_H - 11.0
            );
            t += step;
        }
    }

    /// Starts a new row with a label; returns its index.
    pub fn row(&mut self, label: &str, class: &str) -> usize {
        let row = self.rows;
        self.rows += 1;
        let y = self.y(row);
        let _ = write!(
            self.body,
            r#"<g class="row {class}"><rect class="row-bg" x="0" y="{y}" width="{w}" height="{ROW_H}"/><text class="row-label" x="4" y="{ty}">{}</text></g>"#,
            esc(label),
            w = LABEL_W + self.scale.width,
            ty = y + ROW_H * 0.7
        );
        row
    }

    /// A bar over [a, b] on `row` with a hover title and data attributes.
    pub fn bar(&mut self, row: usize, a: u64, b: u64, class: &str, title: &str, data: &[(&str, String)]) {
        if !self.scale.shows(a, b) {
            return;
        }
        let (x, w) = self.scale.span(a, b);
        let y = self.y(row) + 3.0;
        let mut attrs = String::new();
        for (k, v) in data {
            let _ = write!(attrs, r#" data-{k}="{}""#, esc(v));
        }
        let _ = write!(
            self.body,
            r#"<rect class="{class}" x="{x:.2}" y="{y}" width="{w:.2}" height="{h}"{attrs}><title>{}</title></rect>"#,
            esc(title),
            h = ROW_H - 6.0
        );
    }

    /// A bar with a text inside when it is wide enough.
    pub fn labelled_bar(&mut self, row: usize, a: u64, b: u64, class: &str, text: &str, title: &str) {
        self.bar(row, a, b, class, title, &[]);
        if !self.scale.shows(a, b) {
            return;
        }
        let (x, w) = self.scale.span(a, b);
        if w > 7.0 * text.len() as f64 {
            let _ = write!(
                self.body,
                r#"<text class="bar-label" x="{:.1}" y="{:.1}">{}</text>"#,
                x + 3.0,
                self.y(row) + ROW_H * 0.68,
                esc(text)
            );
        }
    }

    /// A diamond marker at `ts` on `row`.
    pub fn marker(&mut self, row: usize, ts: u64, class: &str, title: &str, data: &[(&str, String)]) {
        if !self.scale.shows(ts, ts) {
            return;
        }
        let x = self.scale.x(ts);
        let y = self.y(row) + ROW_H / 2.0;
        let r = ROW_H / 2.0 - 3.0;
        let mut attrs = String::new();
        for (k, v) in data {
            let _ = write!(attrs, r#" data-{k}="{}""#, esc(v));
        }
        let _ = write!(
            self.body,
            r#"<polygon class="{class}" points="{:.1},{:.1} {:.1},{:.1} {:.1},{:.1} {:.1},{:.1}"{attrs}><title>{}</title></polygon>"#,
            x,
            y - r,
            x + r,
            y,
            x,
            y + r,
            x - r,
            y,
            esc(title)
        );
    }

    /// The finished `<svg>` element.
    pub fn finish(self) -> String {
        let w = LABEL_W + self.scale.width + 10.0;
        let h = self.y(self.rows) + 4.0;
        format!(
            r#"<svg class="{}" role="img" aria-label="{}" width="{w}" height="{h}" viewBox="0 0 {w} {h}">{}</svg>"#,
            esc(&self.class),
            esc(&self.label),
            self.body
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_scales() {
        assert_eq!(esc(r#"<a href="x">&'"#), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
        let s = Scale::new(1000, 2000, 100.0);
        assert_eq!(s.x(1000), LABEL_W);
        assert_eq!(s.x(2000), LABEL_W + 100.0);
        assert_eq!(s.x(5000), LABEL_W + 100.0, "clamped");
        let (_, w) = s.span(1500, 1500);
        assert!(w >= 1.5, "a point still shows");
        let svg = Svg::new(s, "t", "test").finish();
        assert!(svg.starts_with("<svg class=\"t\""), "{svg}");
        assert!(svg.contains("tick-label"), "{svg}");
    }
}
