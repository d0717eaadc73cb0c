/* Light/dark theme, loaded in <head> (before the page paints, so there is no flash).
 *
 * The choice is Django admin's: localStorage "theme" = "auto" | "light" | "dark", so the UI and the
 * admin always show the same theme. "auto" follows prefers-color-scheme, live. Bootstrap 5.3 reads
 * data-bs-theme on <html>; the admin reads data-theme. The navbar's .theme-toggle cycles the
 * choice as the admin's button does.
 */
'use strict';
(function () {
    const KEY = 'theme';
    const MODES = ['auto', 'light', 'dark'];
    const media = window.matchMedia('(prefers-color-scheme: dark)');

    function stored() {
        let mode = null;
        try { mode = localStorage.getItem(KEY); } catch (e) { /* storage off: auto */ }
        return MODES.includes(mode) ? mode : 'auto';
    }

    function apply(mode) {
        const dark = mode === 'dark' || (mode === 'auto' && media.matches);
        const root = document.documentElement;
        root.dataset.theme = mode;
        root.dataset.bsTheme = dark ? 'dark' : 'light';
        document.querySelectorAll('.theme-toggle').forEach(function (button) {
            button.dataset.mode = mode;
            const label = 'Theme: ' + mode + (mode === 'auto' ? ' (' + (dark ? 'dark' : 'light') + ')' : '') +
                '. Click to change.';
            button.title = label;
            button.setAttribute('aria-label', label);
        });
    }

    function set(mode) {
        try { localStorage.setItem(KEY, mode); } catch (e) { /* not kept, still applied */ }
        apply(mode);
    }

    function cycle() {
        const mode = stored();
        // As the admin: from auto, go to the opposite of what the system shows first.
        const order = media.matches ? ['auto', 'light', 'dark'] : ['auto', 'dark', 'light'];
        set(order[(order.indexOf(mode) + 1) % order.length]);
    }

    apply(stored());
    media.addEventListener('change', function () { apply(stored()); });
    // Another tab (or the admin) changed it.
    window.addEventListener('storage', function (event) { if (event.key === KEY) { apply(stored()); } });
    document.addEventListener('DOMContentLoaded', function () {
        apply(stored());
        document.querySelectorAll('.theme-toggle').forEach(function (button) {
            button.addEventListener('click', cycle);
        });
    });
    window.orchestratorTheme = { set: set, current: stored };
})();
