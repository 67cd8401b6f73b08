//! Batch normalisation.

use super::help;
use crate::config::ModelConfig;

pub fn normalisation_ui(ui: &mut egui::Ui, model: &mut ModelConfig) {
    help(
        ui,
        "Batch norm rescales each hidden layer's pre-activations to zero mean and unit variance \
         over the batch, then applies a learned scale and shift. It keeps sigmoid units out of \
         their flat tails: compare the layer-1 row of the heatmap with and without it. Test \
         accuracy uses running statistics.",
    );
    ui.add_enabled(
        !model.kind.is_recurrent(),
        egui::Checkbox::new(
            &mut model.batch_norm,
            "batch normalisation after each hidden layer",
        ),
    )
    .on_disabled_hover_text("Batch norm applies to MLPs only");
}
