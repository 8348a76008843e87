//! Welch's unequal-variance t-test (two-sided), for "do two sets of runs differ by
//! more than their seed-to-seed spread?", and the Student t distribution it needs.
//!
//! With samples `a` and `b` (sizes `n₁`, `n₂`, means `m₁`, `m₂`, sample variances
//! `s₁²`, `s₂²`): `t = (m₁ − m₂) / √(s₁²/n₁ + s₂²/n₂)`, with the Welch–Satterthwaite
//! degrees of freedom `ν = (s₁²/n₁ + s₂²/n₂)² / ((s₁²/n₁)²/(n₁−1) + (s₂²/n₂)²/(n₂−1))`,
//! and the two-sided p-value `P(|T_ν| ≥ |t|) = I_{ν/(ν+t²)}(ν/2, 1/2)`, `I` the
//! regularised incomplete beta function.

/// The outcome of the test.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Welch {
    /// `m₁ − m₂`.
    pub difference: f64,
    pub t: f64,
    /// Welch–Satterthwaite degrees of freedom (not an integer in general).
    pub df: f64,
    /// Two-sided p-value.
    pub p: f64,
}

/// Mean and sample variance (divisor `n − 1`).
fn mean_var(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var)
}

/// Welch's test of `a` against `b`; `None` if either has fewer than two values or
/// both have no spread at all (the statistic is then undefined).
pub fn welch(a: &[f64], b: &[f64]) -> Option<Welch> {
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    let ((ma, va), (mb, vb)) = (mean_var(a), mean_var(b));
    let (qa, qb) = (va / a.len() as f64, vb / b.len() as f64);
    let se2 = qa + qb;
    if se2 <= 0.0 || !se2.is_finite() {
        return None;
    }
    let t = (ma - mb) / se2.sqrt();
    let df = se2 * se2 / (qa * qa / (a.len() - 1) as f64 + qb * qb / (b.len() - 1) as f64);
    Some(Welch {
        difference: ma - mb,
        t,
        df,
        p: student_t_two_sided(t, df),
    })
}

/// The one-sample t-test of `d` against 0, two-sided (of per-image differences, say):
/// `difference` is their mean, `df` = n − 1; none below two values or without spread.
pub fn one_sample(d: &[f64]) -> Option<Welch> {
    if d.len() < 2 {
        return None;
    }
    let (m, v) = mean_var(d);
    let se = (v / d.len() as f64).sqrt();
    if se <= 0.0 || !se.is_finite() {
        return None;
    }
    let (t, df) = (m / se, (d.len() - 1) as f64);
    Some(Welch {
        difference: m,
        t,
        df,
        p: student_t_two_sided(t, df),
    })
}

/// `P(|T| ≥ |t|)` for Student's t with `df` degrees of freedom (any positive real).
pub fn student_t_two_sided(t: f64, df: f64) -> f64 {
    if t.is_infinite() {
        return 0.0;
    }
    regularized_beta(df / (df + t * t), df / 2.0, 0.5)
}

/// `ln Γ(x)` for `x > 0`: Lanczos' approximation (g = 7, 9 terms), about 15 digits.
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x)·Γ(1 − x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let sum = C[0] + (1..9).map(|i| C[i] / (x + i as f64)).sum::<f64>();
    let t = x + G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

/// The regularised incomplete beta function `I_x(a, b)` for `0 ≤ x ≤ 1`, `a, b > 0`:
/// its continued fraction, on the side of `x` where it converges fast.
pub fn regularized_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front.exp() * beta_fraction(x, a, b) / a
    } else {
        1.0 - ln_front.exp() * beta_fraction(1.0 - x, b, a) / b
    }
}

/// The continued fraction of `I_x(a, b)` by the modified Lentz method.
fn beta_fraction(x: f64, a: f64, b: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let clamp = |v: f64| if v.abs() < TINY { TINY } else { v };
    let (mut c, mut d) = (1.0, 1.0 / clamp(1.0 - (a + b) * x / (a + 1.0)));
    let mut h = d;
    for m in 1..=300 {
        let m = m as f64;
        // The even step, then the odd one.
        let even = m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m));
        d = 1.0 / clamp(1.0 + even * d);
        c = clamp(1.0 + even / c);
        h *= d * c;
        let odd = -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0));
        d = 1.0 / clamp(1.0 + odd * d);
        c = clamp(1.0 + odd / c);
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol, "{a} vs {b}");
    }

    #[test]
    fn the_t_distribution_matches_its_closed_forms() {
        use std::f64::consts::PI;
        for t in [0.0, 0.3, 1.0, 2.5, 7.0, 40.0] {
            // ν = 1 is Cauchy: P(|T| ≥ t) = 1 − (2/π)·atan(t).
            close(
                student_t_two_sided(t, 1.0),
                1.0 - 2.0 / PI * t.atan(),
                1e-12,
            );
            // ν = 2: P(|T| ≥ t) = 1 − t/√(2 + t²).
            close(
                student_t_two_sided(-t, 2.0),
                1.0 - t / (2.0 + t * t).sqrt(),
                1e-12,
            );
            // ν = 4: P(|T| ≥ t) = 1 − (3/4)·u·(1 − u²/12), u = t/√(1 + t²/4).
            let u = t / (1.0 + t * t / 4.0).sqrt();
            close(
                student_t_two_sided(t, 4.0),
                1.0 - 0.75 * u * (1.0 - u * u / 12.0),
                1e-12,
            );
        }
        // Γ(5) = 24, Γ(½) = √π, Γ(0.3)·Γ(0.7) = π / sin(0.3π).
        close(ln_gamma(5.0), 24f64.ln(), 1e-13);
        close(ln_gamma(0.5), PI.sqrt().ln(), 1e-13);
        close(
            ln_gamma(0.3) + ln_gamma(0.7),
            (PI / (0.3 * PI).sin()).ln(),
            1e-13,
        );
    }

    #[test]
    fn the_one_sample_test_by_hand() {
        // Mean 2, sd 1, n 3: t = 2√3, df 2, and with 2 degrees of freedom p = 1 − t/√(2 + t²).
        let w = one_sample(&[1.0, 2.0, 3.0]).unwrap();
        let t = 2.0 * 3f64.sqrt();
        close(w.difference, 2.0, 1e-12);
        close(w.t, t, 1e-12);
        close(w.df, 2.0, 0.0);
        close(w.p, 1.0 - t / (2.0 + t * t).sqrt(), 1e-12);
        assert!(one_sample(&[1.0]).is_none() && one_sample(&[1.0, 1.0]).is_none());
    }

    #[test]
    fn welch_on_samples_computed_by_hand() {
        // Equal sizes and spreads: ν = 2(n − 1) = 4, t = (31 − 29)/√(1/3 + 1/3).
        let w = welch(&[30.0, 31.0, 32.0], &[28.0, 29.0, 30.0]).unwrap();
        let t = 2.0 / (2.0f64 / 3.0).sqrt();
        close(w.t, t, 1e-12);
        close(w.df, 4.0, 1e-12);
        close(w.difference, 2.0, 1e-12);
        let u = t / (1.0 + t * t / 4.0).sqrt();
        close(w.p, 1.0 - 0.75 * u * (1.0 - u * u / 12.0), 1e-12);
        // Unequal spreads (s₁² = 0.0111, s₂² = 0.49333…), ν not an integer: by hand,
        // and as scipy 1.17's `ttest_ind(a, b, equal_var=False)` gives them.
        let (a, b) = ([37.21, 37.30, 37.09], [36.8, 37.6, 36.2]);
        let (qa, qb): (f64, f64) = (0.0111 / 3.0, 0.74 / 1.5 / 3.0);
        let w = welch(&a, &b).unwrap();
        close(w.t, (37.2 - 36.866_666_666_666_67) / (qa + qb).sqrt(), 1e-9);
        close(
            w.df,
            (qa + qb).powi(2) / (qa * qa / 2.0 + qb * qb / 2.0),
            1e-9,
        );
        close(w.t, 0.812_900_674_604_997_4, 1e-9);
        close(w.df, 2.089_954_460_554_339_6, 1e-9);
        close(w.p, 0.498_457_563_003_154_6, 1e-9);
        // No test without two values a side, or without any spread.
        assert!(welch(&[1.0], &[1.0, 2.0]).is_none());
        assert!(welch(&[1.0, 1.0], &[2.0, 2.0]).is_none());
    }
}
