//! Candidate detection: a multi-scale, scale-normalised Laplacian-of-Gaussian blob detector in
//! 3-D on the working grid (Lindeberg T., Int J Comput Vis 1998;30:79-116), anisotropy-aware
//! (each axis smoothed in millimetres), with the Hessian's eigenvalues at the chosen scale
//! for blob-versus-tube discrimination (Frangi A.F. et al., MICCAI 1998; Li Q., Sone S.,
//! Doi K., Med Phys 2003;30:2040-2051 for nodule-versus-vessel filters).

use rayon::prelude::*;

use crate::grid::{self, Grid};
use crate::lungs::Lungs;

/// Radii of the blobs sought, mm: nodules of 4 to 30 mm (σ = r/√3 gives the LoG's extremum
/// at a ball of radius r).
pub const BLOB_RADII_MM: [f64; 7] = [1.8, 2.5, 3.5, 5.0, 7.0, 10.0, 14.0];

/// Smallest scale-normalised LoG response (HU) for a candidate: a 4 mm ground-glass nodule
/// (about 300 HU above the parenchyma) answers about 100 HU at its scale, noise of σ 30 HU
/// about 15 HU.
pub const MIN_RESPONSE_HU: f32 = 40.0;

/// At most this many local maxima (strongest first) get their Hessian examined.
pub const MAX_MAXIMA: usize = 600;

/// At most this many candidates (strongest first, after the blobness screen) go to the
/// per-candidate stages, which bounds the time on a scan full of vessels.
pub const MAX_CANDIDATES: usize = 120;

/// Candidates less blob-like than this (smallest over largest Hessian eigenvalue) are tubes
/// or plates (vessels, fissures, pleura) and do not reach segmentation.
pub const MIN_BLOBNESS: f64 = 0.15;

/// A blob candidate on the working grid.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// Working-grid voxel.
    pub voxel: [usize; 3],
    /// Radius of the best scale, mm.
    pub radius_mm: f64,
    /// Scale-normalised LoG response, HU.
    pub response: f32,
    /// Hessian eigenvalues at the best scale, by decreasing magnitude (HU/mm²).
    pub eigenvalues: [f64; 3],
}

impl Candidate {
    /// Blobness: the smallest eigenvalue magnitude over the largest when all three are
    /// negative (a bright ball: about 1; a tube or a plate: about 0), else 0.
    pub fn blobness(&self) -> f64 {
        let [a, _, c] = self.eigenvalues;
        if self.eigenvalues.iter().all(|&l| l < 0.0) && a != 0.0 {
            (c / a).abs()
        } else {
            0.0
        }
    }
}

/// Finds blob candidates inside the lung region of `grid`.
pub fn candidates(grid: &Grid, lungs: &Lungs) -> Vec<Candidate> {
    // crop to the lungs with a margin for the largest kernel
    let (mut lo, mut hi) = ([usize::MAX; 3], [0usize; 3]);
    for (min, max) in lungs.bounds.iter().flatten() {
        for a in 0..3 {
            lo[a] = lo[a].min(min[a]);
            hi[a] = hi[a].max(max[a]);
        }
    }
    if lo[0] == usize::MAX {
        return Vec::new();
    }
    let largest_sigma = BLOB_RADII_MM[BLOB_RADII_MM.len() - 1] / 3f64.sqrt();
    for a in 0..3 {
        let margin = (2.0 * largest_sigma / grid.spacing_mm[a]).ceil() as usize;
        lo[a] = lo[a].saturating_sub(margin);
        hi[a] = (hi[a] + margin).min(grid.dims[a] - 1);
    }
    let crop = crop(grid, lo, hi);
    let [nx, ny, nz] = crop.dims;
    let in_lung: Vec<bool> = (0..crop.len())
        .map(|i| {
            let (x, y, z) = (i % nx, (i / nx) % ny, i / (nx * ny));
            lungs.label_at(x + lo[0], y + lo[1], z + lo[2]) != 0
        })
        .collect();
    let mut best = vec![0.0f32; crop.len()];
    let mut best_scale = vec![0u8; crop.len()];
    let mut smoothed = crop.clone();
    let mut previous_sigma = 0.0;
    for (k, radius) in BLOB_RADII_MM.iter().enumerate() {
        let sigma = radius / 3f64.sqrt();
        let step = (sigma * sigma - previous_sigma * previous_sigma).sqrt();
        smoothed = grid::gaussian(&smoothed, step);
        previous_sigma = sigma;
        let norm = (sigma * sigma) as f32;
        let [sx, sy, sz] = smoothed.spacing_mm.map(|s| (1.0 / (s * s)) as f32);
        let data = &smoothed.data;
        best.par_chunks_mut(nx * ny)
            .zip(best_scale.par_chunks_mut(nx * ny))
            .enumerate()
            .for_each(|(z, (b, bs))| {
                if z == 0 || z + 1 >= nz {
                    return;
                }
                for y in 1..ny - 1 {
                    for x in 1..nx - 1 {
                        let i = (z * ny + y) * nx + x;
                        if !in_lung[i] {
                            continue;
                        }
                        let c = 2.0 * data[i];
                        let lap = (data[i - 1] + data[i + 1] - c) * sx
                            + (data[i - nx] + data[i + nx] - c) * sy
                            + (data[i - nx * ny] + data[i + nx * ny] - c) * sz;
                        let r = -norm * lap;
                        let j = i - z * nx * ny;
                        if r > b[j] {
                            b[j] = r;
                            bs[j] = k as u8;
                        }
                    }
                }
            });
    }
    // local maxima of the best response over 3×3×3
    let mut found: Vec<(usize, f32, u8)> = (1..nz.saturating_sub(1))
        .into_par_iter()
        .flat_map_iter(|z| {
            let best = &best;
            let best_scale = &best_scale;
            (1..ny - 1).flat_map(move |y| {
                (1..nx - 1).filter_map(move |x| {
                    let i = (z * ny + y) * nx + x;
                    let v = best[i];
                    if v < MIN_RESPONSE_HU {
                        return None;
                    }
                    for dz in -1isize..=1 {
                        for dy in -1isize..=1 {
                            for dx in -1isize..=1 {
                                let j = (i as isize + (dz * ny as isize + dy) * nx as isize + dx)
                                    as usize;
                                if j != i && (best[j] > v || (best[j] == v && j < i)) {
                                    return None;
                                }
                            }
                        }
                    }
                    Some((i, v, best_scale[i]))
                })
            })
        })
        .collect();
    found.sort_by(|a, b| b.1.total_cmp(&a.1));
    found.truncate(MAX_MAXIMA);
    let mut screened: Vec<Candidate> = found
        .par_iter()
        .map(|&(i, response, k)| {
            let local = [i % nx, (i / nx) % ny, i / (nx * ny)];
            let voxel = [local[0] + lo[0], local[1] + lo[1], local[2] + lo[2]];
            let radius_mm = BLOB_RADII_MM[k as usize];
            Candidate {
                voxel,
                radius_mm,
                response,
                eigenvalues: hessian_eigenvalues(grid, voxel, radius_mm / 3f64.sqrt()),
            }
        })
        .filter(|c| c.blobness() >= MIN_BLOBNESS)
        .collect();
    screened.truncate(MAX_CANDIDATES);
    screened
}

/// The sub-grid between `lo` and `hi` (inclusive).
pub fn crop(grid: &Grid, lo: [usize; 3], hi: [usize; 3]) -> Grid {
    let dims = [hi[0] - lo[0] + 1, hi[1] - lo[1] + 1, hi[2] - lo[2] + 1];
    let mut data = Vec::with_capacity(dims[0] * dims[1] * dims[2]);
    for z in lo[2]..=hi[2] {
        for y in lo[1]..=hi[1] {
            let start = grid.index(lo[0], y, z);
            data.extend_from_slice(&grid.data[start..start + dims[0]]);
        }
    }
    Grid {
        dims,
        spacing_mm: grid.spacing_mm,
        data,
    }
}

/// Eigenvalues of the Hessian of `grid` smoothed at `sigma_mm`, at `voxel`, by decreasing
/// magnitude, scale-normalised (× σ²).
pub fn hessian_eigenvalues(grid: &Grid, voxel: [usize; 3], sigma_mm: f64) -> [f64; 3] {
    let mut lo = [0; 3];
    let mut hi = [0; 3];
    for a in 0..3 {
        let half = (3.0 * sigma_mm / grid.spacing_mm[a]).ceil() as usize + 2;
        lo[a] = voxel[a].saturating_sub(half);
        hi[a] = (voxel[a] + half).min(grid.dims[a] - 1);
    }
    let local = grid::gaussian(&crop(grid, lo, hi), sigma_mm);
    let c = [voxel[0] - lo[0], voxel[1] - lo[1], voxel[2] - lo[2]];
    let at = |d: [isize; 3]| -> f64 {
        let p: Vec<usize> = (0..3)
            .map(|a| (c[a] as isize + d[a]).clamp(0, local.dims[a] as isize - 1) as usize)
            .collect();
        f64::from(local.data[local.index(p[0], p[1], p[2])])
    };
    let h = grid.spacing_mm;
    let mut m = [[0.0f64; 3]; 3];
    for a in 0..3 {
        let mut e = [0isize; 3];
        e[a] = 1;
        let minus = [-e[0], -e[1], -e[2]];
        m[a][a] = (at(e) - 2.0 * at([0, 0, 0]) + at(minus)) / (h[a] * h[a]);
        for b in a + 1..3 {
            let mut pp = [0isize; 3];
            pp[a] = 1;
            pp[b] = 1;
            let mut pm = [0isize; 3];
            pm[a] = 1;
            pm[b] = -1;
            let mm = [-pp[0], -pp[1], -pp[2]];
            let mp = [-pm[0], -pm[1], -pm[2]];
            let v = (at(pp) - at(pm) - at(mp) + at(mm)) / (4.0 * h[a] * h[b]);
            m[a][b] = v;
            m[b][a] = v;
        }
    }
    let s2 = sigma_mm * sigma_mm;
    let mut ev = symmetric_eigenvalues(m).map(|v| v * s2);
    ev.sort_by(|a, b| b.abs().total_cmp(&a.abs()));
    ev
}

/// Eigenvalues of a symmetric 3×3 matrix (trigonometric solution of the characteristic cubic).
pub fn symmetric_eigenvalues(m: [[f64; 3]; 3]) -> [f64; 3] {
    let p1 = m[0][1].powi(2) + m[0][2].powi(2) + m[1][2].powi(2);
    if p1 < 1e-18 {
        return [m[0][0], m[1][1], m[2][2]];
    }
    let q = (m[0][0] + m[1][1] + m[2][2]) / 3.0;
    let p2 = (m[0][0] - q).powi(2) + (m[1][1] - q).powi(2) + (m[2][2] - q).powi(2) + 2.0 * p1;
    let p = (p2 / 6.0).sqrt();
    let mut b = m;
    for (i, row) in b.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = (m[i][j] - if i == j { q } else { 0.0 }) / p;
        }
    }
    let det = b[0][0] * (b[1][1] * b[2][2] - b[1][2] * b[2][1])
        - b[0][1] * (b[1][0] * b[2][2] - b[1][2] * b[2][0])
        + b[0][2] * (b[1][0] * b[2][1] - b[1][1] * b[2][0]);
    let r = (det / 2.0).clamp(-1.0, 1.0);
    let phi = r.acos() / 3.0;
    let e1 = q + 2.0 * p * phi.cos();
    let e3 = q + 2.0 * p * (phi + 2.0 * std::f64::consts::PI / 3.0).cos();
    let e2 = 3.0 * q - e1 - e3;
    [e1, e2, e3]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eigenvalues_of_a_symmetric_matrix() {
        let mut ev = symmetric_eigenvalues([[2.0, 1.0, 0.0], [1.0, 2.0, 0.0], [0.0, 0.0, 5.0]]);
        ev.sort_by(f64::total_cmp);
        for (a, b) in ev.iter().zip([1.0, 3.0, 5.0]) {
            assert!((a - b).abs() < 1e-9, "{ev:?}");
        }
    }
}
