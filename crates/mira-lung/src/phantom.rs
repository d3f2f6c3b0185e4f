//! A synthetic chest phantom with known answers, deterministic from a seed: a soft-tissue body
//! ellipse with a spine, a trachea, two lungs at about −850 HU holding branching vessel trees
//! whose radius decreases at each generation, planted nodules (solid, part-solid, ground-glass;
//! free, or on a vessel), partial volume by supersampling each voxel across its slice
//! thickness, and CT-like spatially correlated noise. Synthetic data: for tests and benchmarks,
//! never for clinical claims.

use std::path::Path;

use crate::volume::Volume;

/// Attenuations of the phantom's tissues (HU): typical unenhanced CT values.
pub mod hu {
    /// Air outside the body and in the trachea.
    pub const AIR: f32 = -1000.0;
    /// Aerated lung parenchyma.
    pub const LUNG: f32 = -850.0;
    /// Soft tissue (muscle, mediastinum).
    pub const SOFT_TISSUE: f32 = 40.0;
    /// Unenhanced blood in vessels.
    pub const VESSEL: f32 = 40.0;
    /// Solid nodule.
    pub const SOLID_NODULE: f32 = 30.0;
    /// Cortical-cancellous bone of the spine.
    pub const BONE: f32 = 500.0;
}

/// How a planted nodule attenuates.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub enum PlantedKind {
    /// Solid, at [`hu::SOLID_NODULE`].
    Solid,
    /// Ground-glass at this HU (−600 to −300).
    GroundGlass {
        /// Attenuation, HU.
        hu: f32,
    },
    /// Ground-glass at `hu` with a concentric solid core of `solid_diameter_mm`.
    PartSolid {
        /// Attenuation of the ground-glass part, HU.
        hu: f32,
        /// Diameter of the solid core, mm.
        solid_diameter_mm: f64,
    },
    /// Calcified (benign, dense), at this HU.
    Calcified {
        /// Attenuation, HU.
        hu: f32,
    },
}

/// A nodule to plant.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct PlantedNodule {
    /// Centre in patient coordinates, mm (moved onto a vessel when `on_vessel`).
    pub centre_mm: [f64; 3],
    /// Diameter, mm.
    pub diameter_mm: f64,
    /// Attenuation type.
    pub kind: PlantedKind,
    /// Attached to a vessel (juxta-vascular): the centre moves to the nearest point of a
    /// vessel of radius ≤ 1.2 mm.
    pub on_vessel: bool,
}

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct PhantomSpec {
    /// Seed of everything random (vessel trees, noise).
    pub seed: u64,
    /// Columns, rows, slices.
    pub dims: [usize; 3],
    /// Pixel spacing, mm.
    pub pixel_mm: f64,
    /// Slice thickness and spacing, mm.
    pub slice_mm: f64,
    /// Noise standard deviation, HU.
    pub noise_hu: f64,
    /// Vessel generations per tree (0: no vessels).
    pub vessel_generations: u32,
    /// Nodules to plant.
    pub nodules: Vec<PlantedNodule>,
}

/// A generated phantom: the volume and the nodules as planted (centres after moving onto
/// vessels).
#[derive(Debug, Clone)]
pub struct Phantom {
    /// The CT volume.
    pub volume: Volume,
    /// The nodules, where they ended up.
    pub nodules: Vec<PlantedNodule>,
    /// Lung ellipses: centre x (mm) of the right and left lung.
    pub lung_centres_x_mm: [f64; 2],
}

/// splitmix64: a small deterministic generator (Steele G.L. et al., OOPSLA 2014).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u = self.uniform().max(1e-300);
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

#[derive(Debug, Clone, Copy)]
struct Segment {
    a: [f64; 3],
    b: [f64; 3],
    radius: f64,
}

impl Segment {
    fn distance(&self, p: [f64; 3]) -> f64 {
        let ab = sub(self.b, self.a);
        let ap = sub(p, self.a);
        let t = (dot(ap, ab) / dot(ab, ab)).clamp(0.0, 1.0);
        let q = [
            self.a[0] + t * ab[0],
            self.a[1] + t * ab[1],
            self.a[2] + t * ab[2],
        ];
        norm(sub(p, q))
    }
}

fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}
fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}
fn norm(a: [f64; 3]) -> f64 {
    dot(a, a).sqrt()
}

/// The geometry of the chest, in patient mm (x to the patient's left, y posterior, z up);
/// the volume's centre is (0, 0, centre z).
struct Chest {
    body: (f64, f64),
    lungs: [(f64, f64, f64, f64); 2], // centre x, centre y, semi-axis x, semi-axis y
    z_range: (f64, f64),
    trachea: (f64, f64, f64), // x, y, radius
    spine: (f64, f64, f64),
}

impl Chest {
    fn new(width_mm: f64, height_mm: f64, z_range: (f64, f64)) -> Chest {
        let (bw, bh) = (0.46 * width_mm, 0.36 * height_mm);
        let lung = |side: f64| {
            (
                side * 0.21 * width_mm,
                -0.01 * height_mm,
                0.15 * width_mm,
                0.25 * height_mm,
            )
        };
        Chest {
            body: (bw, bh),
            lungs: [lung(-1.0), lung(1.0)],
            z_range,
            trachea: (0.0, -0.12 * height_mm, 0.045 * width_mm),
            spine: (0.0, 0.26 * height_mm, 0.06 * width_mm),
        }
    }

    /// The lung's in-plane scale at height z: the apex narrows towards the top.
    fn lung_scale(&self, z: f64) -> f64 {
        let (z0, z1) = self.z_range;
        let t = ((z - z0) / (z1 - z0)).clamp(0.0, 1.0);
        (1.0 - 0.5 * t * t).sqrt()
    }

    /// Normalised ellipse radius of `p` in lung `i` (< 1 inside).
    fn lung_radius(&self, i: usize, p: [f64; 3]) -> f64 {
        let (cx, cy, ax, ay) = self.lungs[i];
        let s = self.lung_scale(p[2]);
        (((p[0] - cx) / (ax * s)).powi(2) + ((p[1] - cy) / (ay * s)).powi(2)).sqrt()
    }

    fn in_lung(&self, p: [f64; 3]) -> bool {
        self.lung_radius(0, p) < 1.0 || self.lung_radius(1, p) < 1.0
    }
}

fn grow_tree(
    rng: &mut Rng,
    chest: &Chest,
    start: [f64; 3],
    dir: [f64; 3],
    radius: f64,
    generations: u32,
    out: &mut Vec<Segment>,
) {
    if generations == 0 || radius < 0.4 {
        return;
    }
    let length = radius * rng.range(7.0, 11.0);
    let b = [
        start[0] + dir[0] * length,
        start[1] + dir[1] * length,
        start[2] + dir[2] * length,
    ];
    out.push(Segment {
        a: start,
        b,
        radius,
    });
    if !chest.in_lung(b) {
        return;
    }
    for sign in [-1.0, 1.0] {
        // rotate about a random axis perpendicular to dir by ±(25°..40°)
        let angle = sign * rng.range(25.0, 40.0).to_radians();
        let r = [rng.normal(), rng.normal(), rng.normal()];
        let mut axis = sub(
            r,
            [
                dir[0] * dot(r, dir),
                dir[1] * dot(r, dir),
                dir[2] * dot(r, dir),
            ],
        );
        let n = norm(axis).max(1e-9);
        axis = [axis[0] / n, axis[1] / n, axis[2] / n];
        let cross = [
            axis[1] * dir[2] - axis[2] * dir[1],
            axis[2] * dir[0] - axis[0] * dir[2],
            axis[0] * dir[1] - axis[1] * dir[0],
        ];
        let d = [
            dir[0] * angle.cos() + cross[0] * angle.sin(),
            dir[1] * angle.cos() + cross[1] * angle.sin(),
            dir[2] * angle.cos() + cross[2] * angle.sin(),
        ];
        let child = radius * rng.range(0.7, 0.8);
        grow_tree(rng, chest, b, d, child, generations - 1, out);
    }
}

struct Raster<'a> {
    spec: &'a PhantomSpec,
    hu: Vec<f32>,
    origin: [f64; 3],
}

impl Raster<'_> {
    fn position(&self, x: f64, y: f64, z: f64) -> [f64; 3] {
        [
            self.origin[0] + x * self.spec.pixel_mm,
            self.origin[1] + y * self.spec.pixel_mm,
            self.origin[2] + z * self.spec.slice_mm,
        ]
    }

    /// Paints a primitive given by its signed distance (negative inside) over the box
    /// `lo..hi` (mm), mixing each voxel by the fraction of its supersamples inside.
    fn paint(&mut self, lo: [f64; 3], hi: [f64; 3], value: f32, sdf: impl Fn([f64; 3]) -> f64) {
        let [nx, ny, nz] = self.spec.dims;
        let (p, s) = (self.spec.pixel_mm, self.spec.slice_mm);
        let to_index = |v: f64, o: f64, step: f64, n: usize| -> (usize, usize) {
            let a = ((v - o) / step).floor().max(0.0) as usize;
            (a.min(n), a.min(n))
        };
        let (x0, _) = to_index(lo[0], self.origin[0], p, nx);
        let (y0, _) = to_index(lo[1], self.origin[1], p, ny);
        let (z0, _) = to_index(lo[2], self.origin[2], s, nz);
        let x1 = (((hi[0] - self.origin[0]) / p).ceil().max(0.0) as usize + 1).min(nx);
        let y1 = (((hi[1] - self.origin[1]) / p).ceil().max(0.0) as usize + 1).min(ny);
        let z1 = (((hi[2] - self.origin[2]) / s).ceil().max(0.0) as usize + 1).min(nz);
        let half_diagonal = 0.5 * (2.0 * p * p + s * s).sqrt();
        let nz_sub = ((s / 0.2).ceil() as usize).clamp(3, 13);
        const NXY: usize = 4;
        for z in z0..z1 {
            for y in y0..y1 {
                for x in x0..x1 {
                    let c = self.position(x as f64, y as f64, z as f64);
                    let d = sdf(c);
                    let occupancy = if d < -half_diagonal {
                        1.0
                    } else if d > half_diagonal {
                        0.0
                    } else {
                        let mut inside = 0;
                        for k in 0..nz_sub {
                            let dz = (k as f64 + 0.5) / nz_sub as f64 - 0.5;
                            for j in 0..NXY {
                                let dy = (j as f64 + 0.5) / NXY as f64 - 0.5;
                                for i in 0..NXY {
                                    let dx = (i as f64 + 0.5) / NXY as f64 - 0.5;
                                    let q = [c[0] + dx * p, c[1] + dy * p, c[2] + dz * s];
                                    if sdf(q) < 0.0 {
                                        inside += 1;
                                    }
                                }
                            }
                        }
                        inside as f32 / (nz_sub * NXY * NXY) as f32
                    };
                    if occupancy > 0.0 {
                        let i = (z * ny + y) * nx + x;
                        self.hu[i] = self.hu[i] * (1.0 - occupancy) + value * occupancy;
                    }
                }
            }
        }
    }
}

/// Generates the phantom.
pub fn generate(spec: &PhantomSpec) -> Phantom {
    let [nx, ny, nz] = spec.dims;
    let (width, height) = (nx as f64 * spec.pixel_mm, ny as f64 * spec.pixel_mm);
    let depth = nz as f64 * spec.slice_mm;
    let origin = [
        -(nx as f64 - 1.0) / 2.0 * spec.pixel_mm,
        -(ny as f64 - 1.0) / 2.0 * spec.pixel_mm,
        -(nz as f64 - 1.0) / 2.0 * spec.slice_mm,
    ];
    let chest = Chest::new(
        width,
        height,
        (origin[2] - 0.1 * depth, origin[2] + 1.1 * depth),
    );
    let mut rng = Rng::new(spec.seed);
    let mut raster = Raster {
        spec,
        hu: vec![hu::AIR; nx * ny * nz],
        origin,
    };
    let (z_lo, z_hi) = (origin[2] - spec.slice_mm, origin[2] + depth);
    let big = |r: f64| r; // in-plane primitives are z-invariant
    // body
    let (bw, bh) = chest.body;
    raster.paint(
        [-bw - 2.0, -bh - 2.0, z_lo],
        [bw + 2.0, bh + 2.0, z_hi],
        hu::SOFT_TISSUE,
        |p| {
            ((p[0] / bw).powi(2) + (p[1] / bh).powi(2))
                .sqrt()
                .mul_add(1.0, -1.0)
                * big(bw.min(bh))
        },
    );
    // lungs
    for i in 0..2 {
        let (cx, cy, ax, ay) = chest.lungs[i];
        let chest = &chest;
        raster.paint(
            [cx - ax - 2.0, cy - ay - 2.0, z_lo],
            [cx + ax + 2.0, cy + ay + 2.0, z_hi],
            hu::LUNG,
            move |p| (chest.lung_radius(i, p) - 1.0) * ax.min(ay) * chest.lung_scale(p[2]),
        );
    }
    // trachea and spine
    let (tx, ty, tr) = chest.trachea;
    let tr = tr.min(9.0);
    raster.paint(
        [tx - tr - 2.0, ty - tr - 2.0, origin[2] + 0.5 * depth],
        [tx + tr + 2.0, ty + tr + 2.0, z_hi],
        hu::AIR,
        |p| ((p[0] - tx).powi(2) + (p[1] - ty).powi(2)).sqrt() - tr,
    );
    let (sx, sy, sr) = chest.spine;
    raster.paint(
        [sx - sr - 2.0, sy - sr - 2.0, z_lo],
        [sx + sr + 2.0, sy + sr + 2.0, z_hi],
        hu::BONE,
        |p| ((p[0] - sx).powi(2) + (p[1] - sy).powi(2)).sqrt() - sr,
    );
    // vessel trees: from each hilum, several trunks fanning out
    let mut vessels = Vec::new();
    if spec.vessel_generations > 0 {
        for (i, side) in [(0usize, -1.0f64), (1, 1.0)] {
            let (cx, cy, ax, _) = chest.lungs[i];
            // the trunks enter from the mediastinum, outside the lung, so no vessel ends inside it
            let hilum = [cx - side * 1.1 * ax, cy, origin[2] + 0.5 * depth];
            for trunk in 0..4 {
                // trunks enter along the medial side, apart, as lobar arteries do
                let hilum = [
                    hilum[0],
                    hilum[1] + (trunk as f64 - 1.5) * 12.0,
                    hilum[2] + (trunk as f64 - 1.5) * 8.0,
                ];
                let angle = (trunk as f64 - 1.5) * 0.7 + rng.range(-0.2, 0.2);
                let dir = [
                    side * angle.cos() * 0.8,
                    angle.sin() * 0.8,
                    rng.range(-0.6, 0.6),
                ];
                let n = norm(dir);
                let dir = [dir[0] / n, dir[1] / n, dir[2] / n];
                let trunk_radius = rng.range(2.2, 2.8);
                grow_tree(
                    &mut rng,
                    &chest,
                    hilum,
                    dir,
                    trunk_radius,
                    spec.vessel_generations,
                    &mut vessels,
                );
            }
        }
    }
    for v in &vessels {
        let r = v.radius + 1.0;
        let lo = [
            v.a[0].min(v.b[0]) - r,
            v.a[1].min(v.b[1]) - r,
            v.a[2].min(v.b[2]) - r,
        ];
        let hi = [
            v.a[0].max(v.b[0]) + r,
            v.a[1].max(v.b[1]) + r,
            v.a[2].max(v.b[2]) + r,
        ];
        let chest = &chest;
        let seg = *v;
        // vessels exist only inside the lungs (outside they are soft tissue anyway)
        raster.paint(lo, hi, hu::VESSEL, move |p| {
            if chest.in_lung(p) {
                seg.distance(p) - seg.radius
            } else {
                1e9
            }
        });
    }
    // nodules
    let mut planted: Vec<PlantedNodule> = Vec::with_capacity(spec.nodules.len());
    // the imaged z extent (first to last slice centre)
    let (z_first, z_last) = (origin[2], origin[2] + (nz as f64 - 1.0) * spec.slice_mm);
    for (i, n) in spec.nodules.iter().enumerate() {
        let mut n = *n;
        if n.on_vessel {
            let r = n.diameter_mm / 2.0;
            // a vessel point where the whole nodule (beside the vessel, as below) is imaged
            // and clear of the other nodules (those placed already and the free ones to come)
            let others: Vec<PlantedNodule> = planted
                .iter()
                .copied()
                .chain(
                    spec.nodules[i + 1..]
                        .iter()
                        .filter(|m| !m.on_vessel)
                        .copied(),
                )
                .collect();
            let fits = |q: [f64; 3]| {
                let c = [q[0] + 0.3 * r, q[1], q[2]];
                c[2] - r >= z_first
                    && c[2] + r <= z_last
                    && others
                        .iter()
                        .all(|m| norm(sub(m.centre_mm, c)) >= r + m.diameter_mm / 2.0 + 2.0)
            };
            let mut best = (f64::INFINITY, n.centre_mm);
            for v in vessels
                .iter()
                .filter(|v| v.radius <= 1.2 && v.radius >= 0.5)
            {
                for k in 0..=10 {
                    let t = k as f64 / 10.0;
                    let q = [
                        v.a[0] + t * (v.b[0] - v.a[0]),
                        v.a[1] + t * (v.b[1] - v.a[1]),
                        v.a[2] + t * (v.b[2] - v.a[2]),
                    ];
                    let d = norm(sub(q, n.centre_mm));
                    if d < best.0
                        && chest.lung_radius(0, q).min(chest.lung_radius(1, q)) < 0.75
                        && fits(q)
                    {
                        best = (d, q);
                    }
                }
            }
            // beside the vessel, its edge through the nodule's centre half-way
            let q = best.1;
            n.centre_mm = [q[0] + 0.3 * n.diameter_mm / 2.0, q[1], q[2]];
        }
        let r = n.diameter_mm / 2.0;
        let c = n.centre_mm;
        let lo = [c[0] - r - 1.0, c[1] - r - 1.0, c[2] - r - spec.slice_mm];
        let hi = [c[0] + r + 1.0, c[1] + r + 1.0, c[2] + r + spec.slice_mm];
        let ball = move |radius: f64| move |p: [f64; 3]| norm(sub(p, c)) - radius;
        match n.kind {
            PlantedKind::Solid => raster.paint(lo, hi, hu::SOLID_NODULE, ball(r)),
            PlantedKind::GroundGlass { hu } | PlantedKind::Calcified { hu } => {
                raster.paint(lo, hi, hu, ball(r))
            }
            PlantedKind::PartSolid {
                hu,
                solid_diameter_mm,
            } => {
                raster.paint(lo, hi, hu, ball(r));
                raster.paint(lo, hi, hu::SOLID_NODULE, ball(solid_diameter_mm / 2.0));
            }
        }
        planted.push(n);
    }
    let mut values = raster.hu;
    add_noise(&mut values, spec.dims, spec.noise_hu, &mut rng);
    let values: Vec<i16> = values
        .iter()
        .map(|&v| v.round().clamp(-1024.0, 3071.0) as i16)
        .collect();
    let volume = Volume::from_hu(
        spec.dims,
        [spec.pixel_mm, spec.pixel_mm, spec.slice_mm],
        origin,
        values,
    );
    Phantom {
        volume,
        nodules: planted,
        lung_centres_x_mm: [chest.lungs[0].0, chest.lungs[1].0],
    }
}

/// Adds CT-like noise of standard deviation `sigma_hu` to `values` (x fastest): white
/// Gaussian noise smoothed in-plane (σ ≈ 1.6 px), as reconstruction kernels correlate it.
pub fn add_noise(values: &mut [f32], dims: [usize; 3], sigma_hu: f64, rng: &mut Rng) {
    if sigma_hu <= 0.0 {
        return;
    }
    let [nx, ny, nz] = dims;
    let mut noise: Vec<f32> = (0..nx * ny * nz).map(|_| rng.normal() as f32).collect();
    let kernel = [0.0702f32, 0.1311, 0.1907, 0.2161, 0.1907, 0.1311, 0.0702];
    // the standard deviation after separable 2-D smoothing is (Σw²) per axis, multiplied
    let gain = kernel.iter().map(|w| w * w).sum::<f32>();
    let mut tmp = vec![0.0f32; nx.max(ny)];
    for plane in noise.chunks_mut(nx * ny) {
        for y in 0..ny {
            for (x, t) in tmp.iter_mut().enumerate().take(nx) {
                *t = (0..7)
                    .map(|k| plane[y * nx + (x + k).saturating_sub(3).min(nx - 1)] * kernel[k])
                    .sum();
            }
            plane[y * nx..(y + 1) * nx].copy_from_slice(&tmp[..nx]);
        }
        for x in 0..nx {
            for (y, t) in tmp.iter_mut().enumerate().take(ny) {
                *t = (0..7)
                    .map(|k| plane[(y + k).saturating_sub(3).min(ny - 1) * nx + x] * kernel[k])
                    .sum();
            }
            for y in 0..ny {
                plane[y * nx + x] = tmp[y];
            }
        }
    }
    let scale = sigma_hu as f32 / gain;
    for (v, e) in values.iter_mut().zip(&noise) {
        *v += e * scale;
    }
}

/// Writes `volume` as one CT series of uncompressed (explicit VR little endian) files
/// `dir/CT{k:04}.dcm`, with the given study and series UIDs and patient ID.
pub fn write_series(
    volume: &Volume,
    dir: &Path,
    study_uid: &str,
    series_uid: &str,
    patient_id: &str,
) -> std::io::Result<()> {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::tags;
    use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
    std::fs::create_dir_all(dir)?;
    let [nx, ny, nz] = volume.dims;
    for k in 0..nz {
        let s = &volume.slices[k];
        let sop_uid = format!("{series_uid}.{}", k + 1);
        let mut obj = InMemDicomObject::new_empty();
        let put = |obj: &mut InMemDicomObject, tag, vr, value: &str| {
            obj.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
        };
        put(
            &mut obj,
            tags::SOP_CLASS_UID,
            VR::UI,
            "1.2.840.10008.5.1.4.1.1.2",
        );
        put(&mut obj, tags::SOP_INSTANCE_UID, VR::UI, &sop_uid);
        put(&mut obj, tags::STUDY_DATE, VR::DA, &volume.study_date);
        put(&mut obj, tags::MODALITY, VR::CS, "CT");
        put(&mut obj, tags::PATIENT_ID, VR::LO, patient_id);
        put(&mut obj, tags::STUDY_INSTANCE_UID, VR::UI, study_uid);
        put(&mut obj, tags::SERIES_INSTANCE_UID, VR::UI, series_uid);
        put(
            &mut obj,
            tags::FRAME_OF_REFERENCE_UID,
            VR::UI,
            &format!("{series_uid}.0"),
        );
        put(
            &mut obj,
            tags::INSTANCE_NUMBER,
            VR::IS,
            &(k + 1).to_string(),
        );
        put(
            &mut obj,
            tags::SLICE_THICKNESS,
            VR::DS,
            &format!("{}", volume.spacing_mm[2]),
        );
        let p = s.position_mm;
        put(
            &mut obj,
            tags::IMAGE_POSITION_PATIENT,
            VR::DS,
            &format!("{}\\{}\\{}", p[0], p[1], p[2]),
        );
        put(
            &mut obj,
            tags::IMAGE_ORIENTATION_PATIENT,
            VR::DS,
            "1\\0\\0\\0\\1\\0",
        );
        put(
            &mut obj,
            tags::PIXEL_SPACING,
            VR::DS,
            &format!("{}\\{}", volume.spacing_mm[1], volume.spacing_mm[0]),
        );
        put(
            &mut obj,
            tags::PHOTOMETRIC_INTERPRETATION,
            VR::CS,
            "MONOCHROME2",
        );
        put(&mut obj, tags::RESCALE_INTERCEPT, VR::DS, "-1024");
        put(&mut obj, tags::RESCALE_SLOPE, VR::DS, "1");
        obj.put(DataElement::new(
            tags::SAMPLES_PER_PIXEL,
            VR::US,
            PrimitiveValue::from(1u16),
        ));
        obj.put(DataElement::new(
            tags::ROWS,
            VR::US,
            PrimitiveValue::from(ny as u16),
        ));
        obj.put(DataElement::new(
            tags::COLUMNS,
            VR::US,
            PrimitiveValue::from(nx as u16),
        ));
        obj.put(DataElement::new(
            tags::BITS_ALLOCATED,
            VR::US,
            PrimitiveValue::from(16u16),
        ));
        obj.put(DataElement::new(
            tags::BITS_STORED,
            VR::US,
            PrimitiveValue::from(12u16),
        ));
        obj.put(DataElement::new(
            tags::HIGH_BIT,
            VR::US,
            PrimitiveValue::from(11u16),
        ));
        obj.put(DataElement::new(
            tags::PIXEL_REPRESENTATION,
            VR::US,
            PrimitiveValue::from(0u16),
        ));
        let start = volume.index(0, 0, k);
        let stored: Vec<u16> = volume.hu[start..start + nx * ny]
            .iter()
            .map(|&v| (i32::from(v) + 1024).clamp(0, 4095) as u16)
            .collect();
        obj.put(DataElement::new(
            tags::PIXEL_DATA,
            VR::OW,
            PrimitiveValue::U16(stored.into()),
        ));
        let meta = FileMetaTableBuilder::new()
            .transfer_syntax("1.2.840.10008.1.2.1")
            .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.2")
            .media_storage_sop_instance_uid(&sop_uid);
        let file = obj.with_meta(meta).map_err(std::io::Error::other)?;
        file.write_to_file(dir.join(format!("CT{:04}.dcm", k + 1)))
            .map_err(std::io::Error::other)?;
    }
    Ok(())
}
