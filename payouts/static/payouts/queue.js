"use strict";
// The payout queue: adds up the net amounts of the selected rows, per currency,
// in cents (exact), beside the totals of what is shown and what waits; written in
// the page's locale as core.display writes money ("$1,484.75").
{
    function selectedTotal() {
        const out = document.getElementById("payout-selected-total");
        if (!out) {
            return;
        }
        const sums = new Map();
        let count = 0;
        for (const box of document.querySelectorAll("#result_list input.action-select:checked")) {
            const net = box.closest("tr").querySelector(".net[data-cents]");
            if (!net) {
                continue;
            }
            count += 1;
            const currency = net.dataset.currency;
            sums.set(currency, (sums.get(currency) || 0n) + BigInt(net.dataset.cents));
        }
        if (!count) {
            out.textContent = "none";
            return;
        }
        const locale = out.dataset.locale || "en";
        const amounts = [...sums].map(([currency, cents]) => {
            const sign = cents < 0n ? "-" : "";
            const size = cents < 0n ? -cents : cents;
            // A decimal string, not a Number: Intl formats it exactly however large.
            const exact = `${sign}${size / 100n}.${String(size % 100n).padStart(2, "0")}`;
            return new Intl.NumberFormat(locale, {style: "currency", currency}).format(exact);
        });
        out.textContent = `${count} · net ${amounts.join("; ")}`;
    }
    document.addEventListener("DOMContentLoaded", () => {
        const list = document.getElementById("result_list");
        if (list) {
            list.addEventListener("change", selectedTotal);
            selectedTotal();
        }
    });
}
