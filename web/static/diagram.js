// Draws every `pre.mermaid` of the page with mermaid (from npm, served locally) and marks
// the body when done, so tests and people know the diagram is there.
import mermaid from "/assets/mermaid/dist/mermaid.esm.min.mjs";

mermaid.initialize({ startOnLoad: false, securityLevel: "strict" });
await mermaid.run({ querySelector: "pre.mermaid" });
document.body.dataset.diagram = "rendered";
