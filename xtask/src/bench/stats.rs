//! Robust summaries of repeated measurements: median, quartiles, range.

/// Median, quartiles and range of a sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// Number of values.
    pub n: usize,
    /// Median.
    pub median: f64,
    /// First quartile (linear interpolation between order statistics).
    pub q1: f64,
    /// Third quartile.
    pub q3: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

/// The `p` quantile (0..=1) of sorted values, interpolating linearly.
fn quantile(sorted: &[f64], p: f64) -> f64 {
    let pos = p * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Summarises the finite values; `None` when there are none.
pub fn summarize(values: &[f64]) -> Option<Summary> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(Summary {
        n: v.len(),
        median: quantile(&v, 0.5),
        q1: quantile(&v, 0.25),
        q3: quantile(&v, 0.75),
        min: v[0],
        max: v[v.len() - 1],
    })
}

/// A number with about four significant digits and a thousands-free
/// SI-ish suffix: `65.3k`, `1.23M`, `812`, `0.985`.
pub fn human(x: f64) -> String {
    let a = x.abs();
    if !x.is_finite() {
        "n/a".into()
    } else if a >= 1e9 {
        format!("{:.3}G", x / 1e9)
    } else if a >= 1e6 {
        format!("{:.3}M", x / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", x / 1e3)
    } else if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.3}")
    }
}

impl Summary {
    /// `median (min–max, IQR q1–q3)` with [`human`] numbers.
    pub fn cell(&self) -> String {
        if self.n == 1 {
            return human(self.median);
        }
        format!(
            "{} ({}–{}; IQR {}–{})",
            human(self.median),
            human(self.min),
            human(self.max),
            human(self.q1),
            human(self.q3)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarizes_odd_and_even_samples() {
        let s = summarize(&[5.0, 1.0, 3.0, 2.0, 4.0]).unwrap();
        assert_eq!((s.n, s.median, s.q1, s.q3, s.min, s.max), (5, 3.0, 2.0, 4.0, 1.0, 5.0));
        let s = summarize(&[4.0, 1.0, 2.0, 3.0]).unwrap();
        assert_eq!(s.median, 2.5);
        assert_eq!(s.q1, 1.75);
        assert!(summarize(&[]).is_none());
        assert!(summarize(&[f64::NAN]).is_none());
        assert_eq!(summarize(&[7.0, f64::NAN]).unwrap().median, 7.0);
    }

    #[test]
    fn formats_numbers_compactly() {
        assert_eq!(human(65_312.0), "65.3k");
        assert_eq!(human(1_234_567.0), "1.235M");
        assert_eq!(human(812.4), "812");
        assert_eq!(human(0.98512), "0.985");
        assert_eq!(summarize(&[1.0]).unwrap().cell(), "1.000");
    }
}
