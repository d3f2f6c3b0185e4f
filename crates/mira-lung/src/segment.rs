//! Per-nodule segmentation and measurement on the full-resolution volume, in a local region
//! of interest: an adaptive (half-maximum) threshold between the parenchyma and the nodule's
//! own attenuation, grown from the seed inside the lung region, with a morphological opening
//! that cuts attached vessels (Kostis W.J. et al., IEEE TMI 2003;22:1259-1274), then long and
//! short axis on the axial slice of greatest extent from sub-pixel boundary points, volume
//! with partial-volume voxels counted by their fraction, attenuation type and calcification
//! from the HU distribution.

use crate::grid;
use crate::lungs::Lungs;
use crate::volume::Volume;

/// Parenchyma HU where the region of interest holds too little lung to estimate it.
pub const DEFAULT_PARENCHYMA_HU: f32 = -850.0;

/// The first (inclusive) mask takes voxels this far above the parenchyma (HU): faint
/// ground-glass (−600 to −700 HU) stays in, noise (σ 20–40 HU) stays out.
pub const LOW_CONTRAST_HU: f32 = 180.0;

/// Solid attenuation (HU): soft tissue obscures the vessels below; ground-glass does not
/// (Fleischner glossary, Hansell D.M. et al., Radiology 2008;246:697-722). Ground-glass nodules
/// lie around −750 to −300 HU; solid ones around −100 to +100 HU.
pub const SOLID_HU: f32 = -300.0;

/// A nodule whose interior is at least this fraction solid is solid (a partial-volume rim
/// lies outside the interior).
pub const SOLID_FRACTION: f64 = 0.8;

/// A solid component smaller than this mean diameter (mm) is noise or a vessel crossing: the
/// nodule is ground-glass.
pub const MIN_SOLID_COMPONENT_MM: f64 = 2.0;

/// Calcification: above this HU (Lung-RADS and Fleischner speak of dense calcification;
/// 200 HU is the usual densitometric cut-off, Siegelman S.S. et al., AJR 1980;135:1-13).
pub const CALCIFIED_HU: f32 = 200.0;

/// Opening radii as fractions of the nodule's blob radius, tried in turn while the mask leaks
/// along a vessel out of the region of interest: cuts vessels thinner than the radius, keeps
/// the nodule.
pub const OPENING_FRACTION: [f64; 3] = [0.6, 0.8, 1.0];

/// Whether `mask` reaches the region's border (where the region is not the volume's edge in
/// z, which a nodule may touch).
fn reaches_border(roi: &Roi, mask: &[bool], volume_slices: usize) -> bool {
    let [nx, ny, nz] = roi.dims;
    (0..mask.len()).any(|i| {
        if !mask[i] {
            return false;
        }
        let (x, y, z) = (i % nx, (i / nx) % ny, i / (nx * ny));
        x == 0
            || y == 0
            || x + 1 == nx
            || y + 1 == ny
            || (z == 0 && roi.lo[2] > 0)
            || (z + 1 == nz && roi.lo[2] + nz < volume_slices)
    })
}

/// The nodule as segmented and measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Segmented {
    /// Long axis on the axial slice of greatest extent, mm (unrounded).
    pub long_axis_mm: f64,
    /// Short axis (perpendicular to the long axis on that slice), mm.
    pub short_axis_mm: f64,
    /// Long axis endpoints on that slice, volume pixels (column, row).
    pub long_axis_px: [[f64; 2]; 2],
    /// Short axis endpoints on that slice, volume pixels (column, row).
    pub short_axis_px: [[f64; 2]; 2],
    /// Volume index of that slice.
    pub slice: usize,
    /// Volume, mm³ (partial-volume voxels counted by their fraction).
    pub volume_mm3: f64,
    /// Centroid, fractional voxel coordinates.
    pub centre_voxel: [f64; 3],
    /// Solid, part-solid or ground-glass.
    pub kind: Kind,
    /// For a part-solid nodule: the solid component's long and short axis, mm.
    pub solid_axes_mm: Option<(f64, f64)>,
    /// Fraction of the interior at solid attenuation.
    pub solid_fraction: f64,
    /// Fraction of the nodule above the calcification threshold.
    pub calcified_fraction: f64,
    /// Mean HU inside.
    pub mean_hu: f64,
    /// Parenchyma HU around it.
    pub parenchyma_hu: f64,
    /// Elongation: √(largest / smallest eigenvalue of the voxel positions' covariance).
    pub elongation: f64,
    /// Whether the mask reached the region of interest's border (leaked along a vessel).
    pub touches_border: bool,
    /// Whether the nodule abuts the lung region's boundary (pleura, fissure, mediastinum).
    pub juxtapleural: bool,
    /// Voxels in the mask.
    pub voxels: usize,
}

/// Attenuation kind found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Solid.
    Solid,
    /// Part-solid.
    PartSolid,
    /// Ground-glass.
    GroundGlass,
}

struct Roi {
    lo: [usize; 3],
    dims: [usize; 3],
    hu: Vec<f32>,
    in_lung: Vec<bool>,
    spacing: [f64; 3],
}

impl Roi {
    fn index(&self, x: usize, y: usize, z: usize) -> usize {
        (z * self.dims[1] + y) * self.dims[0] + x
    }
}

fn extract(volume: &Volume, lungs: &Lungs, centre: [usize; 3], half_mm: f64) -> Roi {
    let mut lo = [0; 3];
    let mut dims = [0; 3];
    for a in 0..3 {
        let half = (half_mm / volume.spacing_mm[a]).ceil() as usize + 1;
        lo[a] = centre[a].saturating_sub(half);
        let hi = (centre[a] + half).min(volume.dims[a] - 1);
        dims[a] = hi - lo[a] + 1;
    }
    let n = dims[0] * dims[1] * dims[2];
    let mut hu = Vec::with_capacity(n);
    let mut in_lung = Vec::with_capacity(n);
    for z in 0..dims[2] {
        for y in 0..dims[1] {
            for x in 0..dims[0] {
                let (vx, vy, vz) = (x + lo[0], y + lo[1], z + lo[2]);
                hu.push(f32::from(volume.hu[volume.index(vx, vy, vz)]));
                in_lung.push(
                    lungs.label_at(
                        (vx / lungs.factors[0]).min(lungs.dims[0] - 1),
                        (vy / lungs.factors[1]).min(lungs.dims[1] - 1),
                        (vz / lungs.factors[2]).min(lungs.dims[2] - 1),
                    ) != 0,
                );
            }
        }
    }
    Roi {
        lo,
        dims,
        hu,
        in_lung,
        spacing: volume.spacing_mm,
    }
}

fn median(mut values: Vec<f32>) -> Option<f32> {
    if values.is_empty() {
        return None;
    }
    let mid = values.len() / 2;
    values.select_nth_unstable_by(mid, f32::total_cmp);
    Some(values[mid])
}

/// Threshold, opening by `open_mm`, and the component holding `seed`.
fn grow(roi: &Roi, threshold: f32, seed: usize, open_mm: f64) -> Option<Vec<bool>> {
    let mask: Vec<bool> = roi
        .hu
        .iter()
        .zip(&roi.in_lung)
        .map(|(&h, &l)| l && h > threshold)
        .collect();
    if !mask[seed] {
        return None;
    }
    let opened = if open_mm > 0.0 {
        let background: Vec<bool> = mask.iter().map(|m| !m).collect();
        let to_background = grid::distance_sq(&background, roi.dims, roi.spacing);
        let r2 = (open_mm * open_mm) as f32;
        let eroded: Vec<bool> = to_background.iter().map(|&d| d > r2).collect();
        let to_eroded = grid::distance_sq(&eroded, roi.dims, roi.spacing);
        let opened: Vec<bool> = to_eroded
            .iter()
            .zip(&mask)
            .map(|(&d, &m)| m && d <= r2)
            .collect();
        if opened[seed] { opened } else { mask }
    } else {
        mask
    };
    let (labels, _) = grid::components(&opened, roi.dims);
    let l = labels[seed];
    Some(labels.iter().map(|&x| x == l).collect())
}

/// Long and short axis on one slice, mm, with their endpoints (mm in the slice's plane).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Axes {
    /// Long axis, mm.
    pub long: f64,
    /// Short axis, mm.
    pub short: f64,
    /// Long axis endpoints.
    pub long_ends: [(f64, f64); 2],
    /// Short axis endpoints (on the perpendicular through the long axis's midpoint).
    pub short_ends: [(f64, f64); 2],
}

/// Long and short axis from boundary points (greatest distance, then the extent perpendicular
/// to it), mm: the definition of `mira_clinical::measure_axial`.
pub fn axes(points: &[(f64, f64)]) -> Axes {
    let mut best = (0.0f64, (0.0, 0.0), (0.0, 0.0));
    for (i, &a) in points.iter().enumerate() {
        for &b in &points[i + 1..] {
            let d = (a.0 - b.0).powi(2) + (a.1 - b.1).powi(2);
            if d > best.0 {
                best = (d, a, b);
            }
        }
    }
    let long = best.0.sqrt();
    if long == 0.0 {
        return Axes::default();
    }
    let (a, b) = (best.1, best.2);
    let (nx, ny) = (-(b.1 - a.1) / long, (b.0 - a.0) / long);
    let (lo, hi) = points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            let v = p.0 * nx + p.1 * ny;
            (lo.min(v), hi.max(v))
        });
    let mid = ((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0);
    let at = mid.0 * nx + mid.1 * ny;
    let short = (hi - lo).min(long);
    Axes {
        long,
        short,
        long_ends: [a, b],
        short_ends: [
            (mid.0 + (lo - at) * nx, mid.1 + (lo - at) * ny),
            (mid.0 + (hi - at) * nx, mid.1 + (hi - at) * ny),
        ],
    }
}

/// Boundary points of `mask` on slice `z`, each placed between an inside and an outside pixel
/// where the HU crosses `threshold` (linear interpolation).
fn boundary_points(roi: &Roi, mask: &[bool], z: usize, threshold: f32) -> Vec<(f64, f64)> {
    let [nx, ny, _] = roi.dims;
    let mut points = Vec::new();
    for y in 0..ny {
        for x in 0..nx {
            let i = roi.index(x, y, z);
            if !mask[i] {
                continue;
            }
            let h_in = roi.hu[i];
            let neighbours = [
                (x > 0, -1isize, 0isize),
                (x + 1 < nx, 1, 0),
                (y > 0, 0, -1),
                (y + 1 < ny, 0, 1),
            ];
            for (ok, dx, dy) in neighbours {
                let outside = if ok {
                    let j = roi.index((x as isize + dx) as usize, (y as isize + dy) as usize, z);
                    (!mask[j]).then_some(roi.hu[j])
                } else {
                    Some(h_in)
                };
                let Some(h_out) = outside else { continue };
                let t = if h_in > threshold && h_out < threshold {
                    f64::from((h_in - threshold) / (h_in - h_out))
                } else {
                    0.5
                };
                points.push((
                    (x as f64 + t * dx as f64) * roi.spacing[0],
                    (y as f64 + t * dy as f64) * roi.spacing[1],
                ));
            }
        }
    }
    points
}

/// The slice of greatest long axis (ties: longer short axis) and its axes.
fn widest(roi: &Roi, mask: &[bool], threshold: f32) -> Option<(usize, Axes)> {
    let plane = roi.dims[0] * roi.dims[1];
    (0..roi.dims[2])
        .filter(|&z| mask[z * plane..(z + 1) * plane].iter().any(|&m| m))
        .map(|z| (z, axes(&boundary_points(roi, mask, z, threshold))))
        .max_by(|a, b| {
            a.1.long
                .total_cmp(&b.1.long)
                .then(a.1.short.total_cmp(&b.1.short))
        })
}

/// Segments and measures the nodule around `centre` (a volume voxel) whose blob radius is
/// about `radius_mm`.
pub fn segment(
    volume: &Volume,
    lungs: &Lungs,
    centre: [usize; 3],
    radius_mm: f64,
) -> Option<Segmented> {
    let half_mm = (2.5 * radius_mm + 6.0).min(45.0);
    let roi = extract(volume, lungs, centre, half_mm);
    let c = [
        centre[0] - roi.lo[0],
        centre[1] - roi.lo[1],
        centre[2] - roi.lo[2],
    ];
    let parenchyma = median(
        roi.hu
            .iter()
            .zip(&roi.in_lung)
            .filter(|&(&h, &l)| l && h < -600.0)
            .map(|(&h, _)| h)
            .collect(),
    )
    .unwrap_or(DEFAULT_PARENCHYMA_HU);
    // seed: the densest voxel near the centre (within a third of the radius)
    let mut seed = roi.index(c[0], c[1], c[2]);
    let reach: Vec<isize> = (0..3)
        .map(|a| ((radius_mm / 3.0) / roi.spacing[a]).round() as isize)
        .collect();
    for dz in -reach[2]..=reach[2] {
        for dy in -reach[1]..=reach[1] {
            for dx in -reach[0]..=reach[0] {
                let p = [c[0] as isize + dx, c[1] as isize + dy, c[2] as isize + dz];
                if (0..3).any(|a| p[a] < 0 || p[a] >= roi.dims[a] as isize) {
                    continue;
                }
                let i = roi.index(p[0] as usize, p[1] as usize, p[2] as usize);
                if roi.in_lung[i] && roi.hu[i] > roi.hu[seed] {
                    seed = i;
                }
            }
        }
    }
    // the opening grows until the mask no longer leaks out of the region along a vessel
    let mut open_mm = OPENING_FRACTION[0] * radius_mm;
    let mut low = None;
    for fraction in OPENING_FRACTION {
        open_mm = fraction * radius_mm;
        let Some(mask) = grow(&roi, parenchyma + LOW_CONTRAST_HU, seed, open_mm) else {
            break;
        };
        let leaks = reaches_border(&roi, &mask, volume.dims[2]);
        low = Some(mask);
        if !leaks {
            break;
        }
    }
    let low = low?;
    // interior: more than one voxel (in-plane) from the mask's edge
    let outside: Vec<bool> = low.iter().map(|m| !m).collect();
    let to_edge = grid::distance_sq(&outside, roi.dims, roi.spacing);
    let edge2 = (roi.spacing[0].max(roi.spacing[1]) * 1.01).powi(2) as f32;
    let mut interior: Vec<f32> = (0..low.len())
        .filter(|&i| low[i] && to_edge[i] > edge2)
        .map(|i| roi.hu[i])
        .collect();
    if interior.is_empty() {
        interior = (0..low.len())
            .filter(|&i| low[i])
            .map(|i| roi.hu[i])
            .collect();
    }
    let solid_count = interior.iter().filter(|&&h| h >= SOLID_HU).count();
    let solid_fraction = solid_count as f64 / interior.len() as f64;
    let is_solid = solid_fraction >= SOLID_FRACTION;
    let level = if is_solid {
        median(
            interior
                .iter()
                .copied()
                .filter(|&h| h >= SOLID_HU)
                .collect(),
        )
    } else {
        median(interior.iter().copied().filter(|&h| h < SOLID_HU).collect())
    }
    .unwrap_or(0.0);
    let threshold = (parenchyma + level) / 2.0;
    let mask = grow(&roi, threshold, seed, open_mm).unwrap_or(low);
    let voxels = mask.iter().filter(|&&m| m).count();
    if voxels == 0 {
        return None;
    }
    let (slice, widest_axes) = widest(&roi, &mask, threshold)?;
    // endpoints in the volume's pixel coordinates (column, row)
    let to_px = |p: (f64, f64)| {
        [
            p.0 / roi.spacing[0] + roi.lo[0] as f64,
            p.1 / roi.spacing[1] + roi.lo[1] as f64,
        ]
    };
    // volume: partial-volume voxels (the mask and its 6-neighbours) by their fraction
    let [nx, ny, nz] = roi.dims;
    let voxel_mm3 = roi.spacing.iter().product::<f64>();
    let span = f64::from(level - parenchyma).max(1.0);
    let mut volume_mm3 = 0.0;
    let (mut sum, mut n_mask, mut calcified, mut hu_sum) = ([0.0f64; 3], 0usize, 0usize, 0.0);
    let mut positions = Vec::with_capacity(voxels);
    let mut touches_border = false;
    let mut juxtapleural = false;
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                let i = roi.index(x, y, z);
                let neighbours = [
                    (x > 0).then(|| i - 1),
                    (x + 1 < nx).then(|| i + 1),
                    (y > 0).then(|| i - nx),
                    (y + 1 < ny).then(|| i + nx),
                    (z > 0).then(|| i - nx * ny),
                    (z + 1 < nz).then(|| i + nx * ny),
                ];
                let near = mask[i] || neighbours.iter().flatten().any(|&j| mask[j]);
                if near && roi.in_lung[i] {
                    let f = (f64::from(roi.hu[i] - parenchyma) / span).clamp(0.0, 1.0);
                    volume_mm3 += f * voxel_mm3;
                }
                if mask[i] {
                    n_mask += 1;
                    let p = [x as f64, y as f64, z as f64];
                    for a in 0..3 {
                        sum[a] += p[a];
                    }
                    positions.push([
                        p[0] * roi.spacing[0],
                        p[1] * roi.spacing[1],
                        p[2] * roi.spacing[2],
                    ]);
                    hu_sum += f64::from(roi.hu[i]);
                    if roi.hu[i] > CALCIFIED_HU {
                        calcified += 1;
                    }
                    let on_xy_border = x == 0 || y == 0 || x + 1 == nx || y + 1 == ny;
                    let on_z_border = (z == 0 && roi.lo[2] > 0)
                        || (z + 1 == nz && roi.lo[2] + nz < volume.dims[2]);
                    if on_xy_border || on_z_border {
                        touches_border = true;
                    }
                    if neighbours.iter().flatten().any(|&j| !roi.in_lung[j]) {
                        juxtapleural = true;
                    }
                }
            }
        }
    }
    let centroid = [
        sum[0] / n_mask as f64,
        sum[1] / n_mask as f64,
        sum[2] / n_mask as f64,
    ];
    // elongation from the covariance of the positions
    let mean_mm = [
        centroid[0] * roi.spacing[0],
        centroid[1] * roi.spacing[1],
        centroid[2] * roi.spacing[2],
    ];
    let mut cov = [[0.0f64; 3]; 3];
    for p in &positions {
        for a in 0..3 {
            for b in 0..3 {
                cov[a][b] += (p[a] - mean_mm[a]) * (p[b] - mean_mm[b]);
            }
        }
    }
    // a voxel's own extent (its variance, s²/12 per axis) keeps thin-slice-free axes finite
    for (a, row) in cov.iter_mut().enumerate() {
        for v in row.iter_mut() {
            *v /= n_mask as f64;
        }
        row[a] += roi.spacing[a] * roi.spacing[a] / 12.0;
    }
    let mut ev = crate::detect::symmetric_eigenvalues(cov);
    ev.sort_by(f64::total_cmp);
    let elongation = (ev[2] / ev[0].max(1e-9)).sqrt();
    // the solid component of a subsolid nodule
    let mut kind = if is_solid {
        Kind::Solid
    } else {
        Kind::GroundGlass
    };
    let mut solid_axes_mm = None;
    if !is_solid {
        let solid_threshold = (level + SOLID_LEVEL_HU) / 2.0;
        let solid: Vec<bool> = mask
            .iter()
            .zip(&roi.hu)
            .map(|(&m, &h)| m && h > solid_threshold)
            .collect();
        if solid.iter().any(|&s| s) {
            let (labels, sizes) = grid::components(&solid, roi.dims);
            let largest = sizes
                .iter()
                .enumerate()
                .max_by_key(|&(_, s)| *s)
                .map(|(l, _)| l as u32 + 1);
            if let Some(largest) = largest {
                let component: Vec<bool> = labels.iter().map(|&l| l == largest).collect();
                if let Some((_, a)) = widest(&roi, &component, solid_threshold)
                    && (a.long + a.short) / 2.0 >= MIN_SOLID_COMPONENT_MM
                {
                    kind = Kind::PartSolid;
                    solid_axes_mm = Some((a.long, a.short));
                }
            }
        }
    }
    Some(Segmented {
        long_axis_mm: widest_axes.long,
        short_axis_mm: widest_axes.short,
        long_axis_px: widest_axes.long_ends.map(to_px),
        short_axis_px: widest_axes.short_ends.map(to_px),
        slice: slice + roi.lo[2],
        volume_mm3,
        centre_voxel: [
            centroid[0] + roi.lo[0] as f64,
            centroid[1] + roi.lo[1] as f64,
            centroid[2] + roi.lo[2] as f64,
        ],
        kind,
        solid_axes_mm,
        solid_fraction,
        calcified_fraction: calcified as f64 / n_mask as f64,
        mean_hu: hu_sum / n_mask as f64,
        parenchyma_hu: f64::from(parenchyma),
        elongation,
        touches_border,
        juxtapleural,
        voxels,
    })
}

/// Nominal attenuation of a solid component (HU), the upper level of its half-maximum
/// threshold against the ground-glass around it.
pub const SOLID_LEVEL_HU: f32 = 0.0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_of_a_rectangle() {
        let pts = [(0.0, 0.0), (4.0, 0.0), (4.0, 3.0), (0.0, 3.0)];
        let a = axes(&pts);
        assert!((a.long - 5.0).abs() < 1e-9);
        assert!((a.short - 4.8).abs() < 1e-9, "{a:?}"); // perpendicular extent of the rectangle to its diagonal
    }
}
