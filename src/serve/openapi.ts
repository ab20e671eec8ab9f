// The service's OpenAPI document (served at /openapi.json).
export function openApi(limits: { maxTexts: number; maxTextChars: number }, model: { run_id: string; task: string }, route: { route: string; answer: string }) {
  const error = { type: "object", properties: { error: { type: "string" }, message: { type: "string" } }, required: ["error", "message"] };
  const errors = Object.fromEntries(
    [
      ["400", "malformed JSON or an invalid request"],
      ["401", "missing or wrong API key"],
      ["413", "body too large"],
      ["415", "the body is not declared application/json"],
      ["421", "Host header not served here"],
      ["503", "busy (too many requests in flight: Retry-After), engine down, timed out, or shutting down"],
    ].map(([code, description]) => [code, { description, content: { "application/json": { schema: error } } }]),
  );
  return {
    openapi: "3.1.0",
    info: { title: `Hone ${model.task} service`, version: "1", description: `Model from run ${model.run_id} (${model.task}).` },
    components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
    security: [{ bearer: [] }],
    paths: {
      [route.route]: {
        post: {
          summary: `Predict texts (${model.task})`,
          requestBody: {
            required: true,
            content: {
              "application/json": {
                schema: {
                  type: "object",
                  properties: {
                    texts: { type: "array", items: { type: "string", maxLength: limits.maxTextChars }, minItems: 1, maxItems: limits.maxTexts },
                    top_k: { type: "integer", minimum: 1, maximum: 20, default: 3 },
                  },
                  required: ["texts"],
                },
              },
            },
          },
          responses: {
            "200": {
              description: route.answer,
              content: {
                "application/json": {
                  schema: { type: "object", properties: { model: { type: "string" }, predictions: { type: "array", items: { type: "object" } } } },
                },
              },
            },
            ...errors,
          },
        },
      },
      "/healthz": { get: { summary: "Liveness", responses: { "200": { description: "alive" } } } },
      "/readyz": {
        get: { summary: "Readiness (503 while shutting down)", responses: { "200": { description: "ready" }, "503": { description: "draining" } } },
      },
      "/metrics": { get: { summary: "Prometheus metrics", responses: { "200": { description: "text exposition format" } } } },
    },
  };
}
