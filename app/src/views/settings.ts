/** Budget, alert email and time zone settings. */
import { html, type Html } from '../html.js';
import { timeZones } from '../calendar.js';
import { csrfField, layout, type PageContext } from './layout.js';

export interface SettingsFormValues {
  limit: string;
  currency: string;
  alertEmail: string;
  timeZone: string;
}

export function settingsPage(ctx: PageContext, v: SettingsFormValues, alertStatus: string): Html {
  return layout(
    ctx,
    html`<div class="card"><h1>Settings</h1><form class="stack" method="post" action="/settings">${csrfField(ctx)}
<label>Monthly limit (empty for none) <input name="limit" inputmode="decimal" value="${v.limit}" placeholder="500.00"></label>
<label>Currency of the limit <input name="currency" value="${v.currency}" required maxlength="3" pattern="[A-Za-z]{3}"></label>
<label>Alert email (empty: your account email) <input type="email" name="alertEmail" value="${v.alertEmail}" maxlength="254"></label>
<label>Time zone <select name="timeZone" id="time-zone">${timeZones().map(
      (z) => html`<option value="${z}" ${z === v.timeZone ? 'selected' : ''}>${z}</option>`,
    )}</select></label>
<button class="secondary" type="button" data-browser-time-zone-button data-target="time-zone" hidden>Use this browser's time zone</button>
<button class="primary" type="submit">Save</button></form>
<p class="muted">You get one email when this month's spending reaches 80&nbsp;% of the limit and one at 100&nbsp;%, at a verified address (${alertStatus}). "This month" and today's date follow your time zone.</p></div>`,
  );
}
