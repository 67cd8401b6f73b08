//! Native file dialogs, run on their own thread so that the window never waits on
//! them. Where no dialog service exists the dialog returns nothing and the built-in
//! session browser remains.

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, TryRecvError};

/// Whether the desktop offers a file dialog rfd can use: the desktop portal (over the
/// session's D-Bus) or zenity. Without either, rfd returns nothing, which would look
/// like a cancelled dialog.
pub fn dialog_service_available() -> bool {
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some() {
        return true;
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join("zenity").is_file()))
}

/// What a dialog is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialogPurpose {
    Open,
    SaveAs,
    ScreenshotFolder,
}

/// A dialog being shown on its own thread.
pub struct PendingDialog {
    pub purpose: DialogPurpose,
    answer: Receiver<Option<PathBuf>>,
}

/// What polling a dialog found.
pub enum DialogPoll {
    Waiting,
    Picked(PathBuf),
    /// Closed without a choice, or no dialog service is available.
    Cancelled,
}

impl PendingDialog {
    /// Shows a dialog for `purpose` starting in `folder`; `wake` repaints the UI when it
    /// closes.
    pub fn show(
        purpose: DialogPurpose,
        folder: PathBuf,
        wake: impl Fn() + Send + 'static,
    ) -> std::io::Result<Self> {
        let (sender, answer) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("gradlab-file-dialog".into())
            .spawn(move || {
                let dialog = rfd::FileDialog::new()
                    .add_filter("Gradient Lab session", &["json"])
                    .set_directory(&folder);
                let picked = match purpose {
                    DialogPurpose::Open => dialog.set_title("Open a session").pick_file(),
                    DialogPurpose::SaveAs => dialog
                        .set_title("Save the session as")
                        .set_file_name("session.json")
                        .save_file(),
                    DialogPurpose::ScreenshotFolder => {
                        dialog.set_title("Folder for screenshots").pick_folder()
                    }
                };
                // The UI may have gone away; then nobody needs the answer.
                if sender.send(picked).is_ok() {
                    wake();
                }
            })?;
        Ok(Self { purpose, answer })
    }

    pub fn poll(&self) -> DialogPoll {
        match self.answer.try_recv() {
            Ok(Some(path)) => DialogPoll::Picked(path),
            Ok(None) | Err(TryRecvError::Disconnected) => DialogPoll::Cancelled,
            Err(TryRecvError::Empty) => DialogPoll::Waiting,
        }
    }
}
