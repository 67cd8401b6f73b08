//! Screenshots of the window or of one panel, cropped at full pixel density. The
//! frame arrives through egui's screenshot callback; cropping, PNG encoding and the
//! write happen on a thread of their own, and the outcome comes back on a channel.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, SyncSender};

use egui::{ColorImage, Rect};

use crate::session::write_atomic;

/// What to capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Capture {
    Window,
    Heatmap,
    Curves,
}

impl Capture {
    pub fn label(self) -> &'static str {
        match self {
            Self::Window => "window",
            Self::Heatmap => "heatmap",
            Self::Curves => "curves",
        }
    }
}

/// Screenshots in flight and their outcomes.
pub struct Screenshots {
    sender: SyncSender<Result<PathBuf, String>>,
    receiver: Receiver<Result<PathBuf, String>>,
    /// Where screenshots go; the user can pick another folder.
    pub folder: PathBuf,
}

impl Default for Screenshots {
    fn default() -> Self {
        let (sender, receiver) = mpsc::sync_channel(16);
        Self {
            sender,
            receiver,
            folder: PathBuf::from("screenshots"),
        }
    }
}

impl Screenshots {
    /// Asks for the next frame and saves `crop` of it (the whole window for `None`) as
    /// `stem.png` in the screenshot folder, or `stem-2.png`, … if that exists.
    pub fn request(&self, ctx: &egui::Context, crop: Option<Rect>, stem: String) {
        let sender = self.sender.clone();
        let folder = self.folder.clone();
        let pixels_per_point = ctx.pixels_per_point();
        let wake = ctx.clone();
        ctx.request_screenshot(move |image: Arc<ColorImage>| {
            let spawned = std::thread::Builder::new()
                .name("gradlab-screenshot".into())
                .spawn(move || {
                    let path = free_path(&folder, &stem);
                    let result = save_png(&image, crop, pixels_per_point, &path).map(|()| path);
                    // A full queue means nobody is listening any more.
                    if sender.try_send(result).is_ok() {
                        wake.request_repaint();
                    }
                });
            if let Err(err) = spawned {
                log::error!("could not save the screenshot: {err}");
            }
        });
        ctx.request_repaint();
    }

    /// Outcomes of finished screenshots.
    pub fn finished(&self) -> Vec<Result<PathBuf, String>> {
        self.receiver.try_iter().collect()
    }
}

/// `folder/stem.png`, or the first of `stem-2.png`, `stem-3.png`, … not yet taken.
fn free_path(folder: &std::path::Path, stem: &str) -> PathBuf {
    let first = folder.join(format!("{stem}.png"));
    if !first.exists() {
        return first;
    }
    (2u32..)
        .map(|n| folder.join(format!("{stem}-{n}.png")))
        .find(|p| !p.exists())
        .unwrap_or(first)
}

fn save_png(
    image: &ColorImage,
    crop: Option<Rect>,
    pixels_per_point: f32,
    path: &std::path::Path,
) -> Result<(), String> {
    let cropped;
    let image = match crop {
        Some(rect) => {
            cropped = image.region(&rect, Some(pixels_per_point));
            &cropped
        }
        None => image,
    };
    let [width, height] = image.size;
    let rgba = image::RgbaImage::from_raw(width as u32, height as u32, image.as_raw().to_vec())
        .ok_or("the captured frame has an unexpected size")?;
    let mut png = Vec::new();
    rgba.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| e.to_string())?;
    write_atomic(path, &png).map_err(|e| format!("could not write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame with a distinct colour per pixel column, so that the crop's position
    /// shows in its first pixel.
    fn frame(width: usize, height: usize) -> ColorImage {
        let pixels = (0..width * height)
            .map(|i| egui::Color32::from_rgb((i % width) as u8, 7, 9))
            .collect();
        ColorImage::new([width, height], pixels)
    }

    #[test]
    fn window_and_panel_pngs_have_the_right_size_and_place() {
        let dir = tempfile::tempdir().expect("temp dir");
        let window = dir.path().join("window.png");
        save_png(&frame(120, 80), None, 1.0, &window).expect("saved");
        let decoded = image::open(&window).expect("a valid PNG").to_rgba8();
        assert_eq!(decoded.dimensions(), (120, 80));

        // A panel at (10, 20) of 30 × 40 points on a display of 2 pixels per point.
        let panel = dir.path().join("panel.png");
        let rect = Rect::from_min_size(egui::pos2(10.0, 20.0), egui::vec2(30.0, 40.0));
        save_png(&frame(200, 160), Some(rect), 2.0, &panel).expect("saved");
        let decoded = image::open(&panel).expect("a valid PNG").to_rgba8();
        assert_eq!(decoded.dimensions(), (60, 80));
        assert_eq!(decoded.get_pixel(0, 0).0, [20, 7, 9, 255]);
    }

    #[test]
    fn a_taken_name_gets_a_number() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = free_path(dir.path(), "shot");
        assert_eq!(first, dir.path().join("shot.png"));
        std::fs::write(&first, b"x").expect("write");
        assert_eq!(free_path(dir.path(), "shot"), dir.path().join("shot-2.png"));
    }
}
