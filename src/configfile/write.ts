/** Documents as one YAML stream (`---` between them), for files paddock writes (Kubernetes manifests). */
export async function yamlDocuments(documents: unknown[]): Promise<string> {
  const { stringify } = await import("./yaml.js");
  return documents.map((d) => stringify(d, { lineWidth: 0 })).join("---\n");
}
