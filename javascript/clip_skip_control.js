// Clip Skip Control: hover titles for the panel, taken from the extension's schema route so
// that the help texts live in one place (clip_skip_ext/params.py); and a debounced refresh of the
// status line and schedule preview.
//
// Gradio 3.41 ignores an event while the same event's last call is still running
// (Blocks.svelte: `if (status === "pending" || status === "generating") return;`), and 4.40's
// default trigger mode does the same, so the last keystrokes of a quick typist never reach the
// server. After the user stops typing or moving a slider in the tab, this clicks the panel's hidden
// refresh button, which reads every field at once; if the user changed something while that call
// was running, it clicks again when the answer arrives.
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

    function followTab(tab) {
        const root = gradioApp().getElementById(`tab_${tab}`);
        const button = gradioApp().getElementById(`clip_skip_${tab}_refresh`);
        const status = gradioApp().getElementById(`clip_skip_${tab}_status`);
        if (!root || !button || !status) return;
        let timer = null;
        let running = null;
        let dirty = false;
        const settle = () => {
            clearTimeout(running);
            running = null;
            if (dirty) fire();
        };
        const fire = () => {
            if (running) {
                dirty = true;
                return;
            }
            dirty = false;
            running = setTimeout(settle, 3000); // an answer equal to the shown one changes nothing
            button.click();
        };
        new MutationObserver(settle).observe(status, {childList: true, subtree: true, characterData: true});
        const later = (event) => {
            if (event.target.closest && event.target.closest(`#clip_skip_${tab}_layers`)) return;
            clearTimeout(timer);
            timer = setTimeout(fire, 250);
        };
        root.addEventListener("input", later, true);
        root.addEventListener("change", later, true);
    }

    onUiLoaded(() => {
        setTitles();
        followTab("txt2img");
        followTab("img2img");
    });
})();
