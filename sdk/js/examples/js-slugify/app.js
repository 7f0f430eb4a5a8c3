// js-slugify: turns titles into URL slugs. `slugify` is pure, `slug_unique` keeps the slugs it
// handed out in the plugin's key-value store, `page_slug` fetches a page through the host.
import { config, exportTools, http, kv, ToolFailed } from "chitin-sdk";

// Latin letters with diacritics, folded to ASCII by a table: the sandbox's JavaScript engine has
// no Unicode data for String.prototype.normalize.
const FOLDS = {
  a: "àáâãäåāăą", c: "çćĉċč", d: "ďđð", e: "èéêëēĕėęě", g: "ĝğġģ", h: "ĥħ", i: "ìíîïĩīĭįı",
  j: "ĵ", k: "ķ", l: "ĺļľŀł", n: "ñńņňŉ", o: "òóôõöøōŏő", r: "ŕŗř", s: "śŝşšș", t: "ţťŧț",
  u: "ùúûüũūŭůűų", w: "ŵ", y: "ýÿŷ", z: "źżž", ss: "ß", ae: "æ", oe: "œ", th: "þ",
};
const FOLD = new Map(Object.entries(FOLDS).flatMap(([to, from]) => [...from].map((c) => [c, to])));

export function slugify(text, separator = "-", maxLength = 80) {
  const ascii = [...text.toLowerCase()].map((c) => FOLD.get(c) ?? c).join("");
  const words = ascii.split(/[^a-z0-9]+/).filter(Boolean);
  let slug = "";
  for (const word of words) {
    const next = slug ? `${slug}${separator}${word}` : word;
    if (next.length > maxLength) break;
    slug = next;
  }
  // One word longer than the limit is cut rather than dropped.
  return slug || (words[0] ?? "").slice(0, maxLength);
}

function separator() {
  return config.get("separator", "-");
}

const TEXT = { type: "string", minLength: 1, description: "The title to turn into a slug." };
const MAX_LENGTH = {
  type: "integer",
  minimum: 1,
  maximum: 200,
  description: "Longest slug to return (whole words are kept; default 80).",
};

export const tool = exportTools({
  slugify: {
    description: "Turns a title into a URL slug: lower-case ASCII words joined by a separator.",
    parameters: {
      type: "object",
      properties: { text: TEXT, max_length: MAX_LENGTH },
      required: ["text"],
      additionalProperties: false,
    },
    run({ text, max_length = 80 }) {
      const slug = slugify(text, separator(), max_length);
      if (!slug) throw new ToolFailed(`"${text}" has no letters or digits to make a slug of`);
      return slug;
    },
  },

  slug_unique: {
    description:
      "Like slugify, but never returns the same slug twice: a slug already handed out gets a " +
      "numeric suffix (my-title, my-title-2, ...).",
    parameters: {
      type: "object",
      properties: { text: TEXT },
      required: ["text"],
      additionalProperties: false,
    },
    run({ text }) {
      const sep = separator();
      const base = slugify(text, sep);
      if (!base) throw new ToolFailed(`"${text}" has no letters or digits to make a slug of`);
      let slug = base;
      for (let n = 2; kv.get(`slug/${slug}`) !== undefined; n += 1) slug = `${base}${sep}${n}`;
      kv.set(`slug/${slug}`, text);
      return slug;
    },
  },

  page_slug: {
    description: "Fetches a web page and returns the slug of its <title>.",
    parameters: {
      type: "object",
      properties: { url: { type: "string", description: "The http(s) URL of the page." } },
      required: ["url"],
      additionalProperties: false,
    },
    run({ url }) {
      const response = http.get(url);
      if (!response.ok) throw new ToolFailed(`${response.finalUrl} answered HTTP ${response.status}`);
      const title = /<title[^>]*>([^<]*)<\/title>/i.exec(response.text());
      if (!title) throw new ToolFailed(`${response.finalUrl} has no <title>`);
      return { title: title[1].trim(), slug: slugify(title[1], separator()) };
    },
  },
});
