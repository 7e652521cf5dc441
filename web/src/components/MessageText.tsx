// A message's text with its http(s) links made clickable. Text only: React sets text content,
// so markup in a message is shown, never run; links open in a new tab without a referrer.
import { linkify } from '../format';

export function MessageText({ text }: { text: string }) {
  return (
    <p className="text" dir="auto">
      {linkify(text).map((p, i) =>
        p.href
          ? <a key={i} href={p.href} target="_blank" rel="noopener noreferrer nofollow">{p.text}</a>
          : p.text)}
    </p>
  );
}
