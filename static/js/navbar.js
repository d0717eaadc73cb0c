/* The navbar's clock and time zone menu (templates/base.html).
 *
 * The clock shows the time now in the zone pages show times in (data-tz, from the server). The
 * menu offers UTC, the browser's own zone ("Local", known only here) and any IANA zone; the
 * choice is posted to runs:set-timezone, stored per user, and every page then renders its times
 * in it.
 */
'use strict';
(function () {
    const clock = document.getElementById('navbar-clock');
    if (!clock) { return; }
    const zone = clock.dataset.tz || 'UTC';
    let format;
    try {
        format = new Intl.DateTimeFormat('en-GB', {
            timeZone: zone, hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
        });
    } catch (e) {
        return; // a zone this browser does not know: the server's time stays shown
    }
    function tick() { clock.textContent = format.format(new Date()); }
    tick();
    // Each second, on the second.
    setTimeout(function () { tick(); setInterval(tick, 1000); }, 1000 - (Date.now() % 1000));

    const local = document.querySelector('.tz-local');
    const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (local && browserZone) {
        local.value = browserZone;
        local.textContent = 'Local (' + browserZone + ')';
        local.hidden = false;
        if (browserZone === zone && zone !== 'UTC') { local.classList.add('active'); }
    }
    const names = document.getElementById('tz-names');
    const menu = document.getElementById('tz-toggle');
    if (names && menu && Intl.supportedValuesOf) {
        menu.addEventListener('show.bs.dropdown', function () {
            if (names.childElementCount) { return; }
            const fragment = document.createDocumentFragment();
            Intl.supportedValuesOf('timeZone').forEach(function (name) {
                const option = document.createElement('option');
                option.value = name;
                fragment.appendChild(option);
            });
            names.appendChild(fragment);
        });
    }
})();
