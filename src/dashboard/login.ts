import { escapeHtml } from "./http.js";

/** The login page: a form and nothing else (no script: it works, and stays safe, under the strictest policy). */
export function loginPage(message?: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>paddock: log in</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/app.css">
</head>
<body class="login">
<form method="post" action="/login" class="card">
<h1>paddock</h1>
<p>The daemon's token: the file <code>paddock up</code> printed (<code>daemon.token</code> or <code>dashboard.token</code> in its runtime folder).</p>
${message ? `<p class="error" role="alert">${escapeHtml(message)}</p>` : ""}
<label>Token <input type="password" name="token" autocomplete="current-password" required autofocus></label>
<button type="submit">Log in</button>
</form>
</body>
</html>
`;
}
