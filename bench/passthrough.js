// The floor: the least a Worker can do in front of the upstream. Same runtime, same
// bundle path as the proxy; every row of the bench is compared with this one.
export default {
  /**
   * @param {Request} request
   * @param {{ UPSTREAM: string }} env
   */
  async fetch(request, env) {
    const url = new URL(request.url);
    const r = await fetch(env.UPSTREAM + url.pathname + url.search, request);
    return new Response(r.body, r);
  },
};
