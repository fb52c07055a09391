"use strict";
// The payout queue: adds up the net amounts of the selected rows, per currency,
// in cents (exact), beside the totals of what is shown and what waits.
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
        const amounts = [...sums].map(([currency, cents]) => {
            const whole = (cents / 100n).toLocaleString("en-US");
            const part = String(cents % 100n).padStart(2, "0");
            return `${whole}.${part} ${currency}`;
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
