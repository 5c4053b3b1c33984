"""Renderers of a `pifu.generate.form.Form`, one module per format: `render(form, rng, damage) -> (bytes, suffix)`."""
