/** The playground page: the element does the work; `?lang=lua` opens it in Lua. */
import './playground/element.js';

const lang = new URLSearchParams(location.search).get('lang');
if (lang) document.getElementById('playground')?.setAttribute('language', lang);
