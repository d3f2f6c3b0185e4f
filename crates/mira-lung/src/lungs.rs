//! Lung segmentation on the working grid: threshold, connected components, outside air and
//! airways set aside, left/right split, hole filling and a closing that takes juxta-pleural
//! nodules into the lung region.

use crate::grid::{self, Grid};

/// Air and lung parenchyma lie below this (HU): halfway between aerated lung (about −850)
/// and soft tissue (about 0 to +50), the usual first threshold of lung segmentation (Hu S.,
/// Hoffman E.A., Reinhardt J.M., IEEE TMI 2001;20:490-498, use an optimal threshold near
/// −500; −400 keeps partial-volume lung at the borders).
pub const LUNG_AIR_HU: f32 = -400.0;

/// A lung holds at least this much air (ml); smaller pockets (bowel gas, oesophagus, cut
/// edges) are not lungs. Half a millilitre per slice of a 3 mm lung base is far above it.
pub const MIN_LUNG_ML: f64 = 5.0;

/// An air component whose largest axial cross-section is below this (mm²) is an airway
/// (the adult trachea is 150–400 mm² in section), not a lung.
pub const AIRWAY_MAX_AREA_MM2: f64 = 600.0;

/// Radius of the closing that brings juxta-pleural nodules (up to ~2× this in diameter) and
/// the vessels at the hilum into the lung region, mm.
pub const CLOSING_RADIUS_MM: f64 = 10.0;

/// One lung, as found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Side {
    /// The patient's right lung.
    Right,
    /// The patient's left lung.
    Left,
}

/// Lung masks on the working grid.
#[derive(Debug, Clone)]
pub struct Lungs {
    /// Working grid dims.
    pub dims: [usize; 3],
    /// Working grid spacing, mm.
    pub spacing_mm: [f64; 3],
    /// Downsampling factors from the volume to the working grid.
    pub factors: [usize; 3],
    /// Per voxel: 0 outside the lungs, 1 right lung, 2 left lung (holes filled, closed).
    pub label: Vec<u8>,
    /// Per voxel: air-filled lung before filling and closing (parenchyma).
    pub parenchyma: Vec<bool>,
    /// Volume of each lung (right, left), ml, after filling.
    pub volume_ml: [f64; 2],
    /// Bounding box of each lung on the working grid: (min, max) per axis, inclusive.
    pub bounds: [Option<([usize; 3], [usize; 3])>; 2],
}

/// Why the lungs were not found.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum LungsError {
    /// No air component of lung size inside the body.
    #[error("no lungs found: no air region of at least {min_ml} ml inside the body")]
    NotFound {
        /// The minimum lung volume.
        min_ml: f64,
    },
}

impl Lungs {
    /// Label (0, 1 right, 2 left) at a working-grid voxel.
    #[inline]
    pub fn label_at(&self, x: usize, y: usize, z: usize) -> u8 {
        self.label[(z * self.dims[1] + y) * self.dims[0] + x]
    }

    /// Whether any lung was found on `side`.
    pub fn has(&self, side: Side) -> bool {
        self.bounds[side as usize].is_some()
    }
}

/// Segments the lungs on `grid` (HU, the working grid of the volume), whose columns run
/// towards the patient's left when `columns_to_left`.
pub fn segment(
    grid: &Grid,
    factors: [usize; 3],
    columns_to_left: bool,
) -> Result<Lungs, LungsError> {
    let [nx, ny, nz] = grid.dims;
    let plane = nx * ny;
    let voxel_mm3 = grid.spacing_mm.iter().product::<f64>();
    let air: Vec<bool> = grid.data.iter().map(|&v| v < LUNG_AIR_HU).collect();
    let (labels, sizes) = grid::components(&air, grid.dims);
    let count = sizes.len();
    // components that touch the in-plane border are the air around the body
    let mut outside = vec![false; count + 1];
    for z in 0..nz {
        for y in 0..ny {
            for x in [0, nx - 1] {
                outside[labels[(z * ny + y) * nx + x] as usize] = true;
            }
        }
        for x in 0..nx {
            for y in [0, ny - 1] {
                outside[labels[(z * ny + y) * nx + x] as usize] = true;
            }
        }
    }
    // largest cross-section and centroid x of each component
    let mut area = vec![vec![0usize; nz]; count + 1];
    let mut sum_x = vec![0f64; count + 1];
    for (i, &l) in labels.iter().enumerate() {
        if l != 0 {
            area[l as usize][i / plane] += 1;
            sum_x[l as usize] += (i % nx) as f64;
        }
    }
    let pixel_mm2 = grid.spacing_mm[0] * grid.spacing_mm[1];
    let mut lungs: Vec<u32> = (1..=count as u32)
        .filter(|&l| {
            let l = l as usize;
            !outside[l]
                && sizes[l - 1] as f64 * voxel_mm3 >= MIN_LUNG_ML * 1000.0
                && *area[l].iter().max().unwrap_or(&0) as f64 * pixel_mm2 >= AIRWAY_MAX_AREA_MM2
        })
        .collect();
    lungs.sort_by_key(|&l| std::cmp::Reverse(sizes[l as usize - 1]));
    lungs.truncate(2);
    if lungs.is_empty() {
        return Err(LungsError::NotFound {
            min_ml: MIN_LUNG_ML,
        });
    }
    // a smaller second component under a tenth of the first is not the other lung
    if lungs.len() == 2 && sizes[lungs[1] as usize - 1] * 10 < sizes[lungs[0] as usize - 1] {
        lungs.truncate(1);
    }
    let mut side_of = vec![0u8; count + 1];
    // side: smaller column index is the patient's right when columns run to the left
    let right_label = if columns_to_left { 1 } else { 2 };
    let left_label = 3 - right_label;
    let mut split_x = None;
    if lungs.len() == 2 {
        let (a, b) = (lungs[0] as usize, lungs[1] as usize);
        let (ca, cb) = (
            sum_x[a] / sizes[a - 1] as f64,
            sum_x[b] / sizes[b - 1] as f64,
        );
        let (low, high) = if ca < cb { (a, b) } else { (b, a) };
        side_of[low] = right_label;
        side_of[high] = left_label;
    } else {
        // one component: both lungs joined (anterior junction, airways) or one lung; split at
        // the narrowest column near the middle when it is narrow enough
        let l = lungs[0];
        let mut profile = vec![0usize; nx];
        for (i, &li) in labels.iter().enumerate() {
            if li == l {
                profile[i % nx] += 1;
            }
        }
        let first = profile.iter().position(|&c| c > 0).unwrap_or(0);
        let last = profile.iter().rposition(|&c| c > 0).unwrap_or(nx - 1);
        let peak = *profile.iter().max().unwrap_or(&1);
        let span = last - first;
        let (lo, hi) = (first + span / 3, first + 2 * span / 3);
        if let Some((x, &c)) = profile[lo..=hi].iter().enumerate().min_by_key(|&(_, c)| *c) {
            // the joint is under 15% of the widest column (two lungs) — else one lung
            if c * 100 < peak * 15 {
                split_x = Some(lo + x);
            }
        }
        if split_x.is_none() {
            let centre = sum_x[l as usize] / sizes[l as usize - 1] as f64;
            side_of[l as usize] = if (centre < nx as f64 / 2.0) == columns_to_left {
                1
            } else {
                2
            };
        }
    }
    let mut label = vec![0u8; labels.len()];
    let mut parenchyma = vec![false; labels.len()];
    for (i, &l) in labels.iter().enumerate() {
        if l == 0 {
            continue;
        }
        let side = match split_x {
            Some(sx) if l == lungs[0] => {
                if i % nx < sx {
                    right_label
                } else {
                    left_label
                }
            }
            _ => side_of[l as usize],
        };
        if side != 0 {
            label[i] = side;
            parenchyma[i] = true;
        }
    }
    let mut out = Lungs {
        dims: grid.dims,
        spacing_mm: grid.spacing_mm,
        factors,
        label: vec![0; labels.len()],
        parenchyma,
        volume_ml: [0.0; 2],
        bounds: [None, None],
    };
    for side in [1u8, 2] {
        let Some((min, max)) = bounds(&label, grid.dims, side) else {
            continue;
        };
        // crop with a margin for the closing
        let margin: Vec<usize> = (0..3)
            .map(|a| (CLOSING_RADIUS_MM / grid.spacing_mm[a]).ceil() as usize + 1)
            .collect();
        let lo: Vec<usize> = (0..3).map(|a| min[a].saturating_sub(margin[a])).collect();
        let hi: Vec<usize> = (0..3)
            .map(|a| (max[a] + margin[a]).min(grid.dims[a] - 1))
            .collect();
        let cd = [hi[0] - lo[0] + 1, hi[1] - lo[1] + 1, hi[2] - lo[2] + 1];
        let mut sub = vec![false; cd[0] * cd[1] * cd[2]];
        for z in 0..cd[2] {
            for y in 0..cd[1] {
                for x in 0..cd[0] {
                    let g = ((z + lo[2]) * ny + y + lo[1]) * nx + x + lo[0];
                    sub[(z * cd[1] + y) * cd[0] + x] = label[g] == side;
                }
            }
        }
        grid::fill_holes_2d(&mut sub, cd);
        let mut closed = grid::close(&sub, cd, grid.spacing_mm, CLOSING_RADIUS_MM);
        // the closing cannot leave the volume's first and last slices open
        for (c, s) in closed.iter_mut().zip(&sub) {
            *c |= *s;
        }
        grid::fill_holes_2d(&mut closed, cd);
        let mut n = 0usize;
        for z in 0..cd[2] {
            for y in 0..cd[1] {
                for x in 0..cd[0] {
                    if closed[(z * cd[1] + y) * cd[0] + x] {
                        let g = ((z + lo[2]) * ny + y + lo[1]) * nx + x + lo[0];
                        if out.label[g] == 0 {
                            out.label[g] = side;
                            n += 1;
                        }
                    }
                }
            }
        }
        let index = if side == right_label { 0 } else { 1 };
        out.volume_ml[index] = n as f64 * voxel_mm3 / 1000.0;
    }
    // the label array uses 1 = right, 2 = left whatever the column direction
    if right_label == 2 {
        for l in &mut out.label {
            if *l != 0 {
                *l = 3 - *l;
            }
        }
    }
    out.bounds = [
        bounds(&out.label, grid.dims, 1),
        bounds(&out.label, grid.dims, 2),
    ];
    Ok(out)
}

type Bounds = ([usize; 3], [usize; 3]);

fn bounds(label: &[u8], dims: [usize; 3], side: u8) -> Option<Bounds> {
    let [nx, ny, _] = dims;
    let mut min = [usize::MAX; 3];
    let mut max = [0usize; 3];
    let mut any = false;
    for (i, &l) in label.iter().enumerate() {
        if l == side {
            any = true;
            let p = [i % nx, (i / nx) % ny, i / (nx * ny)];
            for a in 0..3 {
                min[a] = min[a].min(p[a]);
                max[a] = max[a].max(p[a]);
            }
        }
    }
    any.then_some((min, max))
}
