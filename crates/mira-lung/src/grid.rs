//! 3-D grid primitives: block downsampling, separable Gaussian filtering, connected
//! components, 2-D hole filling and the exact Euclidean distance transform, all x-fastest.

use rayon::prelude::*;

use crate::volume::Volume;

/// A scalar grid with its voxel spacing.
#[derive(Debug, Clone)]
pub struct Grid {
    /// Sizes in x, y, z.
    pub dims: [usize; 3],
    /// Voxel spacing in mm.
    pub spacing_mm: [f64; 3],
    /// Values, x fastest.
    pub data: Vec<f32>,
}

impl Grid {
    /// Index of (x, y, z).
    #[inline]
    pub fn index(&self, x: usize, y: usize, z: usize) -> usize {
        (z * self.dims[1] + y) * self.dims[0] + x
    }

    /// Number of voxels.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether it holds no voxel.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// Block-averages the volume by integer factors per axis (the last partial block averages
/// what it has).
pub fn downsample(volume: &Volume, factors: [usize; 3]) -> Grid {
    let [nx, ny, nz] = volume.dims;
    let dims = [
        nx.div_ceil(factors[0]),
        ny.div_ceil(factors[1]),
        nz.div_ceil(factors[2]),
    ];
    let plane = dims[0] * dims[1];
    let mut data = vec![0.0f32; plane * dims[2]];
    data.par_chunks_mut(plane).enumerate().for_each(|(k, out)| {
        let mut counts = vec![0u32; plane];
        for z in k * factors[2]..((k + 1) * factors[2]).min(nz) {
            for y in 0..ny {
                let row = &volume.hu[volume.index(0, y, z)..volume.index(0, y, z) + nx];
                let base = (y / factors[1]) * dims[0];
                for (x, &v) in row.iter().enumerate() {
                    let i = base + x / factors[0];
                    out[i] += f32::from(v);
                    counts[i] += 1;
                }
            }
        }
        for (v, c) in out.iter_mut().zip(counts) {
            *v /= c.max(1) as f32;
        }
    });
    Grid {
        dims,
        spacing_mm: [
            volume.spacing_mm[0] * factors[0] as f64,
            volume.spacing_mm[1] * factors[1] as f64,
            volume.spacing_mm[2] * factors[2] as f64,
        ],
        data,
    }
}

fn kernel(sigma_vox: f64) -> Vec<f32> {
    if sigma_vox < 0.3 {
        return vec![1.0];
    }
    let radius = (3.0 * sigma_vox).ceil() as i64;
    let mut k: Vec<f32> = (-radius..=radius)
        .map(|i| (-(i as f64).powi(2) / (2.0 * sigma_vox * sigma_vox)).exp() as f32)
        .collect();
    let sum: f32 = k.iter().sum();
    for v in &mut k {
        *v /= sum;
    }
    k
}

fn convolve_line(line: &[f32], k: &[f32], out: &mut [f32]) {
    let r = (k.len() / 2) as isize;
    let n = line.len() as isize;
    for (i, o) in out.iter_mut().enumerate() {
        let i = i as isize;
        let mut acc = 0.0;
        if i >= r && i + r < n {
            let window = &line[(i - r) as usize..(i + r + 1) as usize];
            for (a, b) in window.iter().zip(k) {
                acc += a * b;
            }
        } else {
            for (j, w) in k.iter().enumerate() {
                // clamp to edge: the border continues
                let p = (i + j as isize - r).clamp(0, n - 1) as usize;
                acc += line[p] * w;
            }
        }
        *o = acc;
    }
}

/// Gaussian smoothing with `sigma_mm` per axis (separable, edges clamped).
pub fn gaussian(grid: &Grid, sigma_mm: f64) -> Grid {
    let [nx, ny, nz] = grid.dims;
    let kx = kernel(sigma_mm / grid.spacing_mm[0]);
    let ky = kernel(sigma_mm / grid.spacing_mm[1]);
    let kz = kernel(sigma_mm / grid.spacing_mm[2]);
    let plane = nx * ny;
    let mut a = grid.data.clone();
    // x and y within each plane
    a.par_chunks_mut(plane).for_each(|p| {
        let mut out = vec![0.0f32; nx.max(ny)];
        if kx.len() > 1 {
            for y in 0..ny {
                let row = &mut p[y * nx..(y + 1) * nx];
                convolve_line(row, &kx, &mut out[..nx]);
                row.copy_from_slice(&out[..nx]);
            }
        }
        if ky.len() > 1 {
            let mut column = vec![0.0f32; ny];
            for x in 0..nx {
                for y in 0..ny {
                    column[y] = p[y * nx + x];
                }
                convolve_line(&column, &ky, &mut out[..ny]);
                for y in 0..ny {
                    p[y * nx + x] = out[y];
                }
            }
        }
    });
    if kz.len() > 1 && nz > 1 {
        let r = (kz.len() / 2) as isize;
        let mut b = vec![0.0f32; a.len()];
        b.par_chunks_mut(plane).enumerate().for_each(|(z, out)| {
            for (j, w) in kz.iter().enumerate() {
                let src = (z as isize + j as isize - r).clamp(0, nz as isize - 1) as usize;
                let src = &a[src * plane..(src + 1) * plane];
                for (o, s) in out.iter_mut().zip(src) {
                    *o += s * w;
                }
            }
        });
        a = b;
    }
    Grid {
        dims: grid.dims,
        spacing_mm: grid.spacing_mm,
        data: a,
    }
}

/// Labels the 6-connected components of `mask` (label 0: background); returns the labels and
/// each component's size (index = label − 1).
pub fn components(mask: &[bool], dims: [usize; 3]) -> (Vec<u32>, Vec<usize>) {
    let [nx, ny, nz] = dims;
    let mut labels = vec![0u32; mask.len()];
    let mut sizes = Vec::new();
    let mut stack = Vec::new();
    for start in 0..mask.len() {
        if !mask[start] || labels[start] != 0 {
            continue;
        }
        let label = sizes.len() as u32 + 1;
        let mut size = 0;
        labels[start] = label;
        stack.push(start);
        while let Some(i) = stack.pop() {
            size += 1;
            let x = i % nx;
            let y = (i / nx) % ny;
            let z = i / (nx * ny);
            let mut visit = |j: usize| {
                if mask[j] && labels[j] == 0 {
                    labels[j] = label;
                    stack.push(j);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < nx {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - nx);
            }
            if y + 1 < ny {
                visit(i + nx);
            }
            if z > 0 {
                visit(i - nx * ny);
            }
            if z + 1 < nz {
                visit(i + nx * ny);
            }
        }
        sizes.push(size);
    }
    (labels, sizes)
}

/// Fills, slice by slice, the background regions of `mask` that do not reach the slice's
/// border (holes: vessels and nodules inside a lung).
pub fn fill_holes_2d(mask: &mut [bool], dims: [usize; 3]) {
    let [nx, ny, _] = dims;
    let plane = nx * ny;
    mask.par_chunks_mut(plane).for_each(|slice| {
        let mut outside = vec![false; plane];
        let mut stack = Vec::new();
        for x in 0..nx {
            stack.push(x);
            stack.push((ny - 1) * nx + x);
        }
        for y in 0..ny {
            stack.push(y * nx);
            stack.push(y * nx + nx - 1);
        }
        while let Some(i) = stack.pop() {
            if slice[i] || outside[i] {
                continue;
            }
            outside[i] = true;
            let (x, y) = (i % nx, i / nx);
            if x > 0 {
                stack.push(i - 1);
            }
            if x + 1 < nx {
                stack.push(i + 1);
            }
            if y > 0 {
                stack.push(i - nx);
            }
            if y + 1 < ny {
                stack.push(i + nx);
            }
        }
        for (m, o) in slice.iter_mut().zip(outside) {
            if !o {
                *m = true;
            }
        }
    });
}

/// 1-D squared distance transform of `f` (Felzenszwalb & Huttenlocher 2012) with sample
/// spacing `s`, in place.
fn edt_line(f: &mut [f32], s: f32, v: &mut [usize], z: &mut [f32], d: &mut [f32]) {
    let n = f.len();
    let mut k = 0usize;
    v[0] = 0;
    z[0] = f32::NEG_INFINITY;
    z[1] = f32::INFINITY;
    let pos = |q: usize| q as f32 * s;
    for q in 1..n {
        if f[q] == f32::INFINITY {
            continue;
        }
        if f[v[k]] == f32::INFINITY {
            v[k] = q;
            continue;
        }
        loop {
            let p = v[k];
            let sq =
                ((f[q] + pos(q) * pos(q)) - (f[p] + pos(p) * pos(p))) / (2.0 * (pos(q) - pos(p)));
            if sq <= z[k] && k > 0 {
                k -= 1;
                continue;
            }
            k += 1;
            v[k] = q;
            z[k] = sq;
            z[k + 1] = f32::INFINITY;
            break;
        }
    }
    if f[v[0]] == f32::INFINITY {
        return;
    }
    k = 0;
    for (q, out) in d.iter_mut().enumerate().take(n) {
        while z[k + 1] < pos(q) {
            k += 1;
        }
        let p = v[k];
        *out = (pos(q) - pos(p)).powi(2) + f[p];
    }
    f.copy_from_slice(&d[..n]);
}

/// Squared Euclidean distance (mm²) from each voxel to the nearest voxel where `features` is
/// true (infinite where there is none).
pub fn distance_sq(features: &[bool], dims: [usize; 3], spacing_mm: [f64; 3]) -> Vec<f32> {
    let [nx, ny, nz] = dims;
    let plane = nx * ny;
    let mut f: Vec<f32> = features
        .iter()
        .map(|&b| if b { 0.0 } else { f32::INFINITY })
        .collect();
    let longest = nx.max(ny).max(nz);
    f.par_chunks_mut(plane).for_each(|p| {
        let (mut v, mut zb, mut d) = (vec![0; longest], vec![0.0; longest + 1], vec![0.0; longest]);
        for y in 0..ny {
            edt_line(
                &mut p[y * nx..(y + 1) * nx],
                spacing_mm[0] as f32,
                &mut v,
                &mut zb,
                &mut d,
            );
        }
        let mut column = vec![0.0f32; ny];
        for x in 0..nx {
            for y in 0..ny {
                column[y] = p[y * nx + x];
            }
            edt_line(&mut column, spacing_mm[1] as f32, &mut v, &mut zb, &mut d);
            for y in 0..ny {
                p[y * nx + x] = column[y];
            }
        }
    });
    if nz > 1 {
        // z lines: gather per (x, y) in parallel over y rows
        let columns: Vec<Vec<f32>> = (0..plane)
            .into_par_iter()
            .map(|xy| {
                let mut line: Vec<f32> = (0..nz).map(|z| f[z * plane + xy]).collect();
                let (mut v, mut zb, mut d) = (vec![0; nz], vec![0.0; nz + 1], vec![0.0; nz]);
                edt_line(&mut line, spacing_mm[2] as f32, &mut v, &mut zb, &mut d);
                line
            })
            .collect();
        for (xy, line) in columns.into_iter().enumerate() {
            for (z, value) in line.into_iter().enumerate() {
                f[z * plane + xy] = value;
            }
        }
    }
    f
}

/// Morphological closing of `mask` by a ball of `radius_mm` (dilation then erosion, through
/// the distance transform).
pub fn close(mask: &[bool], dims: [usize; 3], spacing_mm: [f64; 3], radius_mm: f64) -> Vec<bool> {
    let r2 = (radius_mm * radius_mm) as f32;
    let to_mask = distance_sq(mask, dims, spacing_mm);
    let outside_dilated: Vec<bool> = to_mask.iter().map(|&d| d > r2).collect();
    let to_outside = distance_sq(&outside_dilated, dims, spacing_mm);
    to_outside.iter().map(|&d| d > r2).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_transform_is_euclidean_in_mm() {
        let dims = [9, 9, 9];
        let mut mask = vec![false; 729];
        mask[(4 * 9 + 4) * 9 + 4] = true;
        let d = distance_sq(&mask, dims, [1.0, 2.0, 0.5]);
        let at = |x: usize, y: usize, z: usize| d[(z * 9 + y) * 9 + x];
        assert_eq!(at(4, 4, 4), 0.0);
        assert!((at(7, 4, 4) - 9.0).abs() < 1e-4);
        assert!((at(4, 6, 4) - 16.0).abs() < 1e-4);
        assert!((at(4, 4, 0) - 4.0).abs() < 1e-4);
        assert!((at(5, 5, 5) - (1.0 + 4.0 + 0.25)).abs() < 1e-4);
    }

    #[test]
    fn components_and_holes() {
        let dims = [5, 5, 1];
        let mut mask = vec![true; 25];
        mask[12] = false; // a hole in the middle
        fill_holes_2d(&mut mask, dims);
        assert!(mask[12]);
        let mask: Vec<bool> = (0..25).map(|i| i % 5 != 2).collect();
        let (_, sizes) = components(&mask, dims);
        assert_eq!(sizes, vec![10, 10]);
    }
}
