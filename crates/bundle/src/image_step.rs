//! The `image` step of `measured build`: the service-VM pipeline
//! ([`image::pipeline::build_into`]) inside the step cache, keyed on every
//! input the pipeline reads, so an unchanged image is reused, not rebuilt.

use std::path::Path;

use image::ImageError;
use image::spec::Owners;

use crate::spec::{BuildSpec, SpecError};
use crate::{BundleBuilder, BundleError, StepOutcome, StepSpec};

/// The image step's own report (what `measured image build` calls
/// `bundle.json`); the bundle's `bundle.json` records every step.
pub const IMAGE_REPORT: &str = "image.json";

/// Bump when the step's output for the same inputs changes.
const IMAGE_STEP_VERSION: u32 = 2;

/// Run (or reuse) the image step. `on_stage` is called with each pipeline
/// stage's name as it starts. An image error a spec key is to blame for is
/// a [`SpecError`] at that key's line; any other (an OS error writing the
/// disk) stays an [`ImageError`] and keeps its cause.
pub fn image_step<E>(
    b: &mut BundleBuilder,
    spec: &BuildSpec,
    epoch: i64,
    on_stage: &dyn Fn(&str),
) -> Result<StepOutcome, E>
where
    E: From<BundleError> + From<SpecError> + From<ImageError>,
{
    let im = &spec.image;
    let mut step = StepSpec::new("image")
        .version(IMAGE_STEP_VERSION)
        .bytes("image spec", spec.image_toml.clone())
        .bytes("SOURCE_DATE_EPOCH", epoch.to_string())
        .path("rootfs", &im.rootfs)
        .file("kernel", &im.kernel);
    // A directory rootfs under `owners = "auto"` maps the builder's own
    // files to root: who builds is an input.
    if im.owners == Owners::Auto && im.rootfs.is_dir() {
        let (uid, gid) = image::hostdir::builder();
        step = step.bytes("builder uid:gid", format!("{uid}:{gid}"));
    }
    for (label, p) in [
        ("modules", &im.modules),
        ("initrd", &im.initrd),
        ("busybox", &im.busybox),
    ] {
        if let Some(p) = p {
            step = step.path(label, p);
        }
    }
    b.step(step, |dir: &Path| -> Result<(), E> {
        image::pipeline::build_into(im, dir, epoch, on_stage).map_err(|e| located::<E>(spec, e))?;
        // In a build bundle, bundle.json is the build's record: the image
        // step's own record is kept beside it under its own name.
        let report = dir.join("bundle.json");
        std::fs::rename(&report, dir.join(IMAGE_REPORT)).map_err(ImageError::io(&report))?;
        Ok(())
    })
}

/// Point at the spec key an image error is about; an OS error (a full
/// disk) is not the spec's fault and keeps its cause.
fn located<E: From<SpecError> + From<ImageError>>(spec: &BuildSpec, e: ImageError) -> E {
    let key = match &e {
        ImageError::Field { field, .. } => *field,
        ImageError::Kernel { .. } => "kernel",
        ImageError::Modules { .. } => "modules",
        ImageError::Rootfs { .. } | ImageError::UnknownInit | ImageError::Path(_) => "rootfs",
        _ => return e.into(),
    };
    spec.error_at(spec.line_of_key(key), e.to_string()).into()
}
