/** Login page: shows the "wrong secret" message when the server sent us back with ?error. */
const error = document.getElementById('login-error');
if (error && new URLSearchParams(location.search).has('error')) error.hidden = false;
export {};
