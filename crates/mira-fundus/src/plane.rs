//! Single-channel float images and the few operations the analysis needs: box reduction,
//! masked box means (summed-area tables), separable square min/max filters, grey-level
//! openings along lines, and connected components.

use image::RgbImage;
use rayon::prelude::*;

/// A single-channel image of `f32` samples, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Plane {
    /// Width in pixels.
    pub w: usize,
    /// Height in pixels.
    pub h: usize,
    /// `w * h` samples, row by row.
    pub data: Vec<f32>,
}

impl Plane {
    /// A plane of `w × h` samples, all `value`.
    pub fn filled(w: usize, h: usize, value: f32) -> Plane {
        Plane {
            w,
            h,
            data: vec![value; w * h],
        }
    }

    /// The sample at column `x`, row `y`.
    pub fn at(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.w + x]
    }
}

/// The red, green and blue planes of an RGB image reduced by `factor` in each direction (the
/// mean of each `factor × factor` block; the last partial blocks are dropped).
pub fn reduce(img: &RgbImage, factor: usize) -> [Plane; 3] {
    let f = factor.max(1);
    let (fw, fh) = (img.width() as usize, img.height() as usize);
    let (w, h) = (fw / f, fh / f);
    let mut out = [
        Plane::filled(w, h, 0.0),
        Plane::filled(w, h, 0.0),
        Plane::filled(w, h, 0.0),
    ];
    let raw = img.as_raw();
    let norm = 1.0 / (f * f) as f32;
    let mut acc = vec![[0u32; 3]; w];
    for y in 0..h {
        acc.iter_mut().for_each(|a| *a = [0; 3]);
        for dy in 0..f {
            let start = (y * f + dy) * fw * 3;
            let row = &raw[start..start + w * f * 3];
            for (a, block) in acc.iter_mut().zip(row.chunks_exact(3 * f)) {
                for px in block.chunks_exact(3) {
                    a[0] += u32::from(px[0]);
                    a[1] += u32::from(px[1]);
                    a[2] += u32::from(px[2]);
                }
            }
        }
        for (x, a) in acc.iter().enumerate() {
            for c in 0..3 {
                out[c].data[y * w + x] = a[c] as f32 * norm;
            }
        }
    }
    out
}

/// The mean of `plane` over the masked pixels of the `(2r+1)²` window around each pixel;
/// where the window holds no masked pixel, `fallback`.
pub fn masked_box_mean(plane: &Plane, mask: &[bool], r: usize, fallback: f32) -> Plane {
    let (w, h) = (plane.w, plane.h);
    let stride = w + 1;
    let mut sum = vec![0f64; stride * (h + 1)];
    let mut count = vec![0u32; stride * (h + 1)];
    for y in 0..h {
        let mut row_sum = 0f64;
        let mut row_count = 0u32;
        for x in 0..w {
            let i = y * w + x;
            if mask[i] {
                row_sum += f64::from(plane.data[i]);
                row_count += 1;
            }
            sum[(y + 1) * stride + x + 1] = sum[y * stride + x + 1] + row_sum;
            count[(y + 1) * stride + x + 1] = count[y * stride + x + 1] + row_count;
        }
    }
    let mut out = Plane::filled(w, h, fallback);
    for y in 0..h {
        let (y0, y1) = (y.saturating_sub(r), (y + r + 1).min(h));
        for x in 0..w {
            let (x0, x1) = (x.saturating_sub(r), (x + r + 1).min(w));
            let n = count[y1 * stride + x1] + count[y0 * stride + x0]
                - count[y0 * stride + x1]
                - count[y1 * stride + x0];
            if n > 0 {
                let s = sum[y1 * stride + x1] + sum[y0 * stride + x0]
                    - sum[y0 * stride + x1]
                    - sum[y1 * stride + x0];
                out.data[y * w + x] = (s / f64::from(n)) as f32;
            }
        }
    }
    out
}

/// Erodes a mask by a square of half-size `r`; pixels within `r` of the image edge are
/// outside the result.
pub fn erode_mask(mask: &[bool], w: usize, h: usize, r: usize) -> Vec<bool> {
    let as_plane = Plane {
        w,
        h,
        data: mask.iter().map(|m| if *m { 1.0 } else { 0.0 }).collect(),
    };
    let eroded = square_filter(&as_plane, r, Extreme::Min, 0.0);
    eroded.data.iter().map(|v| *v > 0.5).collect()
}

/// Which extreme a min/max filter keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extreme {
    /// The minimum (grey-level erosion).
    Min,
    /// The maximum (grey-level dilation).
    Max,
}

/// A separable `(2r+1)²` min or max filter; samples outside the image count as `outside`.
pub fn square_filter(plane: &Plane, r: usize, extreme: Extreme, outside: f32) -> Plane {
    let (w, h) = (plane.w, plane.h);
    let pick = |a: f32, b: f32| match extreme {
        Extreme::Min => a.min(b),
        Extreme::Max => a.max(b),
    };
    let run = |line: &[f32], out: &mut [f32]| {
        // van Herk / Gil-Werman: prefix and suffix extremes over blocks of 2r+1
        let n = line.len();
        let k = 2 * r + 1;
        let padded: Vec<f32> = std::iter::repeat_n(outside, r)
            .chain(line.iter().copied())
            .chain(std::iter::repeat_n(outside, r + k))
            .collect();
        let m = padded.len();
        let mut prefix = vec![0f32; m];
        let mut suffix = vec![0f32; m];
        for i in 0..m {
            prefix[i] = if i % k == 0 {
                padded[i]
            } else {
                pick(prefix[i - 1], padded[i])
            };
        }
        for i in (0..m).rev() {
            suffix[i] = if i % k == k - 1 || i == m - 1 {
                padded[i]
            } else {
                pick(suffix[i + 1], padded[i])
            };
        }
        for (x, o) in out.iter_mut().enumerate().take(n) {
            // window [x, x + k) of the padded line
            *o = pick(suffix[x], prefix[x + k - 1]);
        }
    };
    let mut rows = Plane::filled(w, h, 0.0);
    for y in 0..h {
        let (src, dst) = (
            &plane.data[y * w..(y + 1) * w],
            &mut rows.data[y * w..(y + 1) * w],
        );
        run(src, dst);
    }
    let mut out = Plane::filled(w, h, 0.0);
    let mut column = vec![0f32; h];
    let mut result = vec![0f32; h];
    for x in 0..w {
        for (y, c) in column.iter_mut().enumerate() {
            *c = rows.data[y * w + x];
        }
        run(&column, &mut result);
        for (y, r) in result.iter().enumerate() {
            out.data[y * w + x] = *r;
        }
    }
    out
}

/// The offsets of a digital line segment of `2 * half + 1` pixels through the origin at
/// `angle` radians.
fn line_offsets(half: usize, angle: f64) -> Vec<(isize, isize)> {
    let (s, c) = angle.sin_cos();
    let mut offsets: Vec<(isize, isize)> = (-(half as isize)..=half as isize)
        .map(|t| {
            (
                (t as f64 * c).round() as isize,
                (t as f64 * s).round() as isize,
            )
        })
        .collect();
    offsets.dedup();
    offsets
}

/// Grey-level openings of `plane` by line segments of `2 * half + 1` pixels at `angles`
/// evenly spaced orientations (in parallel over the orientations); returns the pointwise
/// maximum and minimum over orientations.
///
/// An opening keeps what contains the segment: a vessel survives the segment along it, a blob
/// wider than the segment survives every orientation, a spot shorter than the segment none.
/// Pixels within `half` of the image edge are left at 0 (callers mask the field's rim).
pub fn line_openings(plane: &Plane, half: usize, angles: usize) -> (Plane, Plane) {
    let (w, h) = (plane.w, plane.h);
    let mut sup = Plane::filled(w, h, 0.0);
    let mut inf = Plane::filled(w, h, f32::INFINITY);
    if w <= 4 * half + 2 || h <= 4 * half + 2 {
        inf.data.iter_mut().for_each(|v| *v = 0.0);
        return (sup, inf);
    }
    // one opening per orientation, in parallel; then the pointwise extremes
    let openings: Vec<Plane> = (0..angles)
        .into_par_iter()
        .map(|a| {
            let angle = std::f64::consts::PI * a as f64 / angles as f64;
            let deltas: Vec<isize> = line_offsets(half, angle)
                .into_iter()
                .map(|(dx, dy)| dy * w as isize + dx)
                .collect();
            let mut eroded = Plane::filled(w, h, 0.0);
            for y in half..h - half {
                for x in half..w - half {
                    let i = (y * w + x) as isize;
                    let mut m = f32::INFINITY;
                    for d in &deltas {
                        m = m.min(plane.data[(i + d) as usize]);
                    }
                    eroded.data[i as usize] = m;
                }
            }
            let mut opened = Plane::filled(w, h, 0.0);
            for y in 2 * half..h - 2 * half {
                for x in 2 * half..w - 2 * half {
                    let i = (y * w + x) as isize;
                    let mut m = f32::NEG_INFINITY;
                    for d in &deltas {
                        m = m.max(eroded.data[(i + d) as usize]);
                    }
                    opened.data[i as usize] = m;
                }
            }
            opened
        })
        .collect();
    for opened in &openings {
        for ((s, n), o) in sup.data.iter_mut().zip(&mut inf.data).zip(&opened.data) {
            *s = s.max(*o);
            *n = n.min(*o);
        }
    }
    for v in &mut inf.data {
        if !v.is_finite() {
            *v = 0.0;
        }
    }
    (sup, inf)
}

/// One 8-connected component of a mask.
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    /// Pixels in the component.
    pub area: usize,
    /// Bounding box: first column, first row, last column, last row (inclusive).
    pub bbox: (usize, usize, usize, usize),
    /// The largest value of the scored plane in the component.
    pub peak: f32,
    /// The sum of the scored plane over the component.
    pub sum: f32,
    /// Centroid (column, row).
    pub centroid: (f64, f64),
    /// The component's pixels (indices into the plane).
    pub pixels: Vec<usize>,
}

/// The 8-connected components of `mask`, with `values` summarised over each.
pub fn components(mask: &[bool], values: &Plane) -> Vec<Component> {
    let (w, h) = (values.w, values.h);
    let mut seen = vec![false; w * h];
    let mut out = Vec::new();
    let mut stack = Vec::new();
    for start in 0..w * h {
        if !mask[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let mut c = Component {
            area: 0,
            bbox: (usize::MAX, usize::MAX, 0, 0),
            peak: f32::NEG_INFINITY,
            sum: 0.0,
            centroid: (0.0, 0.0),
            pixels: Vec::new(),
        };
        let (mut sx, mut sy) = (0f64, 0f64);
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            c.area += 1;
            c.pixels.push(i);
            c.bbox = (
                c.bbox.0.min(x),
                c.bbox.1.min(y),
                c.bbox.2.max(x),
                c.bbox.3.max(y),
            );
            c.peak = c.peak.max(values.data[i]);
            c.sum += values.data[i];
            sx += x as f64;
            sy += y as f64;
            for dy in -1isize..=1 {
                for dx in -1isize..=1 {
                    let (nx, ny) = (x as isize + dx, y as isize + dy);
                    if nx < 0 || ny < 0 || nx >= w as isize || ny >= h as isize {
                        continue;
                    }
                    let j = ny as usize * w + nx as usize;
                    if mask[j] && !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        c.centroid = (sx / c.area as f64, sy / c.area as f64);
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn square_filter_matches_a_naive_min_and_max() {
        let (w, h) = (13, 9);
        let data: Vec<f32> = (0..w * h).map(|i| ((i * 37) % 23) as f32).collect();
        let p = Plane { w, h, data };
        for r in [1, 2, 4] {
            for extreme in [Extreme::Min, Extreme::Max] {
                let got = square_filter(
                    &p,
                    r,
                    extreme,
                    100.0 * (extreme == Extreme::Min) as u8 as f32,
                );
                for y in 0..h {
                    for x in 0..w {
                        let mut want = if extreme == Extreme::Min { 100.0 } else { 0.0 };
                        for yy in y.saturating_sub(r)..(y + r + 1).min(h) {
                            for xx in x.saturating_sub(r)..(x + r + 1).min(w) {
                                want = match extreme {
                                    Extreme::Min => f32::min(want, p.at(xx, yy)),
                                    Extreme::Max => f32::max(want, p.at(xx, yy)),
                                };
                            }
                        }
                        assert_eq!(got.at(x, y), want, "r {r} {extreme:?} at ({x}, {y})");
                    }
                }
            }
        }
    }

    #[test]
    fn line_openings_keep_lines_along_them_and_drop_spots() {
        let (w, h) = (60, 60);
        let mut p = Plane::filled(w, h, 0.0);
        for x in 5..55 {
            p.data[30 * w + x] = 1.0; // a horizontal line
        }
        p.data[10 * w + 40] = 1.0; // a spot
        for y in 40..52 {
            for x in 10..22 {
                p.data[y * w + x] = 1.0; // a blob
            }
        }
        let (sup, inf) = line_openings(&p, 4, 8);
        assert_eq!(sup.at(30, 30), 1.0, "the line survives along itself");
        assert_eq!(inf.at(30, 30), 0.0, "but not across");
        assert_eq!(sup.at(40, 10), 0.0, "the spot survives no orientation");
        assert_eq!(inf.at(16, 46), 1.0, "the blob survives every orientation");
    }

    #[test]
    fn components_are_eight_connected() {
        let (w, h) = (5, 4);
        let mask = [
            true, false, false, false, true, //
            false, true, false, false, false, //
            false, false, false, true, true, //
            false, false, false, false, false,
        ];
        let values = Plane {
            w,
            h,
            data: (0..20).map(|i| i as f32).collect(),
        };
        let c = components(&mask, &values);
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].area, 2);
        assert_eq!(c[0].bbox, (0, 0, 1, 1));
        assert_eq!(c[0].peak, 6.0);
    }
}
