// Clip Skip Control: hover titles for the panel, taken from the extension's schema route so
// that the help texts live in one place (clip_skip_ext/params.py).
(function () {
    async function setTitles() {
        let schema;
        try {
            const response = await fetch("/clip-skip-control/v1/schema");
            if (!response.ok) return;
            schema = await response.json();
        } catch (error) {
            return;
        }
        for (const tab of ["txt2img", "img2img"]) {
            for (const field of schema.fields) {
                const element = gradioApp().getElementById(`clip_skip_${tab}_${field.name}`);
                if (element) element.title = field.description;
            }
        }
    }
    onUiLoaded(setTitles);
})();
