// Every card is painted before its thumbnail arrives: the picture's mean colour at once, then
// its BlurHash (both made at index time and sent with the result, search.media.thumbnails).
// The page's Content-Security-Policy allows no style attributes in the HTML, so the paint is
// set here, through the CSSOM. Cards added later (more results, infinite scroll) are painted as
// they appear.
import { decode } from "../vendor/blurhash-2.0.5.js";

const SIDE = 32; // the blur is drawn this many pixels wide and stretched: it has no detail

function blurUrl(hash) {
  const canvas = document.createElement("canvas");
  canvas.width = SIDE;
  canvas.height = SIDE;
  const context = canvas.getContext("2d");
  if (!context) return null;
  const pixels = context.createImageData(SIDE, SIDE);
  pixels.data.set(decode(hash, SIDE, SIDE));
  context.putImageData(pixels, 0, 0);
  return canvas.toDataURL();
}

function paint(card) {
  const img = card.querySelector("img");
  if (!img || img.classList.contains("placeholder-painted")) return;
  const colour = card.dataset.placeholderColour;
  const hash = card.dataset.placeholder;
  if (!colour && !hash) return;
  if (colour) img.style.backgroundColor = colour;
  img.classList.add("placeholder-painted");
  if (!hash || (img.complete && img.naturalWidth > 0)) return; // the thumbnail is already there
  try {
    const url = blurUrl(hash);
    if (url) img.style.backgroundImage = 'url("' + url + '")';
  } catch (error) {
    // A hash the decoder refuses: the colour stays, which is what the page had to show anyway.
  }
}

function paintAll(root) {
  for (const card of root.querySelectorAll(".card[data-placeholder], .card[data-placeholder-colour]")) {
    paint(card);
  }
}

paintAll(document);
new MutationObserver((changes) => {
  for (const change of changes) {
    for (const node of change.addedNodes) {
      if (node.nodeType !== Node.ELEMENT_NODE) continue;
      if (node.matches(".card")) paint(node);
      else paintAll(node);
    }
  }
}).observe(document.body, { childList: true, subtree: true });
