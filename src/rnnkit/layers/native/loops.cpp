// Whole-sequence forward and backward loops on CPU for what torch has no kernel for: the LSTM
// family's peephole and layer-norm variants (the plain LSTM for comparison), and the minGRU /
// minLSTM recurrence with its gate arithmetic fused into the scan.
//
// Why C++: at batch 1 each time step is ~1 GEMV plus ~10 small elementwise ops; from Python every
// op costs ~8-10 us of dispatch, which is most of a step. Here a step is ONE ATen GEMM/GEMV call
// plus ONE fused pass over the gate row (vectorised with ATen's own Vectorized<T>, i.e. the SLEEF
// exp/tanh torch uses), so the time goes into arithmetic instead of dispatch.
//
// Contract (the Python side, rnnkit/layers/fastlstm.py, prepares everything and keeps autograd):
// gate order inside is (o, i, f, g); all tensors contiguous, one dtype (float or double), CPU;
// xp (T, B, 4H) already holds the input projection with the biases (the layer-norm LSTM takes the
// raw projection xr and applies LN_ih itself, see below); w_hh (4H, H).
// The backward takes the per-step output gradients with dh_T folded in (dy), the optional dc_T
// injections for variable lengths (inj, (T, B, H), or an empty tensor), and returns the gradients
// of every gate pre-activation (layer-norm: of xr and of h W_hh^T); dW_hh / dW_ih come from one
// GEMM over all steps in Python.
#include "common.h"

#include <tuple>
#include <vector>

namespace {

using namespace rnnkit_native;
using at::Tensor;

// ------------------------------------------------------------------ plain / peephole LSTM
std::tuple<Tensor, Tensor, Tensor, Tensor> lstm_fwd(const Tensor& xp, const Tensor& h0, const Tensor& c0,
                                                     const Tensor& w_hh, const std::optional<Tensor>& peep_) {
  check(xp, "xp", xp);
  const int64_t T = xp.size(0), B = xp.size(1), G = xp.size(2), H = G / 4;
  Tensor peep = opt_contig(peep_);
  const bool has_peep = peep.defined();
  Tensor hs = at::empty({T + 1, B, H}, xp.options()), cs = at::empty({T + 1, B, H}, xp.options());
  Tensor tcs = at::empty({T, B, H}, xp.options()), gates = at::empty({T, B, G}, xp.options());
  hs[0].copy_(h0);
  cs[0].copy_(c0);
  Tensor wt = w_hh.t();
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "rnnkit_lstm_fwd", [&] {
    using T_ = scalar_t;
    const T_* pp = has_peep ? peep.data_ptr<T_>() : nullptr;
    for (int64_t t = 0; t < T; ++t) {
      Tensor gt = gates[t];
      at::addmm_out(gt, xp[t], hs[t], wt);
      T_* g_base = gt.data_ptr<T_>();
      const T_* cp_base = cs.data_ptr<T_>() + t * B * H;
      T_* c_base = cs.data_ptr<T_>() + (t + 1) * B * H;
      T_* h_base = hs.data_ptr<T_>() + (t + 1) * B * H;
      T_* tc_base = tcs.data_ptr<T_>() + t * B * H;
      at::parallel_for(0, B, grain(G), [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
          T_* o = g_base + b * G;
          T_ *i = o + H, *f = o + 2 * H, *g = o + 3 * H;
          const T_* cp = cp_base + b * H;
          T_ *c = c_base + b * H, *h = h_base + b * H, *tc = tc_base + b * H;
          for_vec<T_>(H, [&](int64_t k, int64_t n) {
            Vec<T_> vcp = ld(cp, k, n), vi = ld(i, k, n), vf = ld(f, k, n), vo = ld(o, k, n);
            if (pp) {
              vi = vi + ld(pp + H, k, n) * vcp;
              vf = vf + ld(pp + 2 * H, k, n) * vcp;
            }
            vi = sigm(vi);
            vf = sigm(vf);
            Vec<T_> vg = tnh(ld(g, k, n));
            Vec<T_> vc = vf * vcp + vi * vg;
            vo = sigm(pp ? vo + ld(pp, k, n) * vc : vo);
            Vec<T_> vtc = tnh(vc);
            st(vi, i, k, n); st(vf, f, k, n); st(vg, g, k, n); st(vo, o, k, n);
            st(vc, c, k, n); st(vtc, tc, k, n); st(vo * vtc, h, k, n);
          });
        }
      });
    }
  });
  return {hs, cs, tcs, gates};
}

std::tuple<Tensor, Tensor, Tensor> lstm_bwd(const Tensor& dy, const std::optional<Tensor>& inj_,
                                             const Tensor& dcT, const Tensor& w_hh,
                                             const std::optional<Tensor>& peep_, const Tensor& cs,
                                             const Tensor& tcs, const Tensor& gates) {
  check(dy, "dy", dy);
  check(gates, "gates", dy);
  const int64_t T = tcs.size(0), B = tcs.size(1), H = tcs.size(2), G = 4 * H;
  Tensor inj = opt_contig(inj_), peep = opt_contig(peep_);
  const bool has_inj = inj.defined(), has_peep = peep.defined();
  Tensor dpre = at::empty({T, B, G}, dy.options());
  Tensor dh = at::empty({B, H}, dy.options());
  // carry = the part of dc_t that flows from step t+1 (dc_{t+1} * dc_{t+1}/dc_t)
  Tensor carry = has_inj ? at::zeros({B, H}, dy.options()) : dcT.contiguous().clone();
  Tensor dpeep_rows = at::zeros({B, 3, H}, dy.options());  // per-row sums, reduced at the end
  AT_DISPATCH_FLOATING_TYPES(dy.scalar_type(), "rnnkit_lstm_bwd", [&] {
    using T_ = scalar_t;
    const T_* pp = has_peep ? peep.data_ptr<T_>() : nullptr;
    T_* dpp = dpeep_rows.data_ptr<T_>();
    for (int64_t t = T - 1; t >= 0; --t) {
      if (t == T - 1) dh.copy_(dy[t]); else at::addmm_out(dh, dy[t], dpre[t + 1], w_hh);
      const T_* dh_base = dh.data_ptr<T_>();
      const T_* g_base = gates.data_ptr<T_>() + t * B * G;
      const T_* cp_base = cs.data_ptr<T_>() + t * B * H;
      const T_* tc_base = tcs.data_ptr<T_>() + t * B * H;
      const T_* inj_base = has_inj ? inj.data_ptr<T_>() + t * B * H : nullptr;
      T_* dp_base = dpre.data_ptr<T_>() + t * B * G;
      T_* cr_base = carry.data_ptr<T_>();
      at::parallel_for(0, B, grain(G), [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
          const T_* o = g_base + b * G;
          const T_ *i = o + H, *f = o + 2 * H, *g = o + 3 * H;
          const T_ *cp = cp_base + b * H, *c = cp + B * H, *tc = tc_base + b * H, *dhr = dh_base + b * H;
          T_* dpo = dp_base + b * G;
          T_ *dpi = dpo + H, *dpf = dpo + 2 * H, *dpg = dpo + 3 * H, *cr = cr_base + b * H;
          T_* acc = dpp + b * 3 * H;
          const Vec<T_> one(T_(1));
          for_vec<T_>(H, [&](int64_t k, int64_t n) {
            Vec<T_> vo = ld(o, k, n), vi = ld(i, k, n), vf = ld(f, k, n), vg = ld(g, k, n);
            Vec<T_> vtc = ld(tc, k, n), vdh = ld(dhr, k, n), vcp = ld(cp, k, n);
            Vec<T_> A = vtc * vo * (one - vo);
            Vec<T_> K = vo * (one - vtc * vtc);
            if (pp) K = K + A * ld(pp, k, n);
            Vec<T_> dc = ld(cr, k, n) + vdh * K;
            if (inj_base) dc = dc + ld(inj_base + b * H, k, n);
            Vec<T_> Ci = vg * vi * (one - vi), Cf = vcp * vf * (one - vf);
            Vec<T_> dpo_v = vdh * A, dpi_v = dc * Ci, dpf_v = dc * Cf;
            st(dpo_v, dpo, k, n); st(dpi_v, dpi, k, n); st(dpf_v, dpf, k, n);
            st(dc * vi * (one - vg * vg), dpg, k, n);
            Vec<T_> fp = vf;
            if (pp) {
              fp = fp + Ci * ld(pp + H, k, n) + Cf * ld(pp + 2 * H, k, n);
              st(ld(acc, k, n) + dpo_v * ld(c, k, n), acc, k, n);
              st(ld(acc + H, k, n) + dpi_v * vcp, acc + H, k, n);
              st(ld(acc + 2 * H, k, n) + dpf_v * vcp, acc + 2 * H, k, n);
            }
            st(dc * fp, cr, k, n);
          });
        }
      });
    }
  });
  Tensor dpeep = has_peep ? dpeep_rows.sum(0) : at::empty({0}, dy.options());
  return {dpre, carry, dpeep};
}

// ------------------------------------------------------------------ layer-norm LSTM
// pre = LN_ih(xr) + LN_hh(h W_hh^T) with xr = x W_ih^T the raw input projection (LN_ih's beta is
// the bias), c = σ(f) c + σ(i) tanh(g), h = σ(o) tanh(LN_c(c)).
// At a large batch the speed is decided by memory, not arithmetic (a step's passes run over rows
// that sit in cache): every full-size (T, B, 4H) buffer costs a write, a read and, freshly
// allocated, a page fault per 4 KiB. So the only such buffers are xr (the caller's) and
// zs = h W_hh^T, both saved; the gates live in a per-thread row, the backward recomputes them (and
// tanh(LN_c(c))) from xr, zs and the six per-row LN statistics, and can write dLoss/dxr over xr
// and dLoss/dzs over zs (each element is read before it is overwritten); the caller passes the
// same tensors as outputs when the graph is freed after this backward, fresh ones otherwise.

template <typename T>
struct LnParams {
  const T *gih, *bih, *ghh, *gc, *bc;  // bih, bc may be null (cell without bias)
};

// Activated gates (o, i, f: σ | g: tanh) of one row from its raw projections and LN statistics.
template <typename T>
inline void ln_gate_row(const T* x, const T* z, const T* st6, const LnParams<T>& p, int64_t H, T* out) {
  const Vec<T> vmx(st6[0]), vrx(st6[1]), vmz(st6[2]), vrz(st6[3]);
  auto pre = [&](int64_t k, int64_t n) {
    Vec<T> v = (ld(x, k, n) - vmx) * vrx * ld(p.gih, k, n) + (ld(z, k, n) - vmz) * vrz * ld(p.ghh, k, n);
    return p.bih ? v + ld(p.bih, k, n) : v;
  };
  for_vec<T>(3 * H, [&](int64_t k, int64_t n) { st(sigm(pre(k, n)), out, k, n); });
  for_vec<T>(H, [&](int64_t k, int64_t n) { st(tnh(pre(3 * H + k, n)), out, 3 * H + k, n); });
}

// LN_c(c) and its normalised input at lanes [k, k+n) of a row
template <typename T>
inline Vec<T> ln_c_at(const T* c, const Vec<T>& vmc, const Vec<T>& vrc, const LnParams<T>& p, int64_t k, int64_t n,
                      Vec<T>* xh) {
  *xh = (ld(c, k, n) - vmc) * vrc;
  Vec<T> lc = *xh * ld(p.gc, k, n);
  return p.bc ? lc + ld(p.bc, k, n) : lc;
}

template <typename T>
LnParams<T> ln_params(const Tensor& g_ih, const Tensor& b_ih, const Tensor& g_hh, const Tensor& g_c,
                      const Tensor& b_c) {
  return {g_ih.data_ptr<T>(), b_ih.defined() ? b_ih.data_ptr<T>() : nullptr, g_hh.data_ptr<T>(), g_c.data_ptr<T>(),
          b_c.defined() ? b_c.data_ptr<T>() : nullptr};
}

// -> (hs (T+1, B, H), cs (T+1, B, H), zs (T, B, 4H), stats (T, B, 6): mean, 1/std of LN_ih, LN_hh, LN_c)
std::tuple<Tensor, Tensor, Tensor, Tensor> lnlstm_fwd(
    const Tensor& xr, const Tensor& h0, const Tensor& c0, const Tensor& w_hh, const Tensor& g_ih,
    const std::optional<Tensor>& b_ih_, const Tensor& g_hh, const Tensor& g_c, const std::optional<Tensor>& b_c_,
    double eps_ih, double eps_hh, double eps_c) {
  check(xr, "xr", xr);
  const int64_t T = xr.size(0), B = xr.size(1), G = xr.size(2), H = G / 4;
  Tensor gih = g_ih.contiguous(), bih = opt_contig(b_ih_), ghh = g_hh.contiguous(), gc = g_c.contiguous(),
         bc = opt_contig(b_c_);
  Tensor hs = at::empty({T + 1, B, H}, xr.options()), cs = at::empty({T + 1, B, H}, xr.options());
  Tensor zs = at::empty({T, B, G}, xr.options()), stats = at::empty({T, B, 6}, xr.options());
  hs[0].copy_(h0);
  cs[0].copy_(c0);
  Tensor wt = w_hh.t();
  AT_DISPATCH_FLOATING_TYPES(xr.scalar_type(), "rnnkit_lnlstm_fwd", [&] {
    using T_ = scalar_t;
    const LnParams<T_> p = ln_params<T_>(gih, bih, ghh, gc, bc);
    for (int64_t t = 0; t < T; ++t) {
      Tensor zt = zs[t];
      at::mm_out(zt, hs[t], wt);
      const T_* z_base = zt.data_ptr<T_>();
      const T_* x_base = xr.data_ptr<T_>() + t * B * G;
      const T_* cp_base = cs.data_ptr<T_>() + t * B * H;
      T_* c_base = cs.data_ptr<T_>() + (t + 1) * B * H;
      T_* h_base = hs.data_ptr<T_>() + (t + 1) * B * H;
      T_* st_base = stats.data_ptr<T_>() + t * B * 6;
      at::parallel_for(0, B, grain(G), [&](int64_t b0, int64_t b1) {
        std::vector<T_> gate_buf(G);  // this row's activated gates (o, i, f, g)
        T_* o = gate_buf.data();
        const T_ *i = o + H, *f = o + 2 * H, *g = o + 3 * H;
        for (int64_t b = b0; b < b1; ++b) {
          const T_ *x = x_base + b * G, *z = z_base + b * G, *cp = cp_base + b * H;
          T_ *c = c_base + b * H, *h = h_base + b * H, *s6 = st_base + b * 6;
          std::tie(s6[0], s6[1]) = moments(x, G, eps_ih);
          std::tie(s6[2], s6[3]) = moments(z, G, eps_hh);
          ln_gate_row(x, z, s6, p, H, o);
          for_vec<T_>(H, [&](int64_t k, int64_t n) {
            st(ld(f, k, n) * ld(cp, k, n) + ld(i, k, n) * ld(g, k, n), c, k, n);
          });
          std::tie(s6[4], s6[5]) = moments<T_>(c, H, eps_c);
          const Vec<T_> vmc(s6[4]), vrc(s6[5]);
          for_vec<T_>(H, [&](int64_t k, int64_t n) {
            Vec<T_> xh;
            st(ld<T_>(o, k, n) * tnh(ln_c_at(c, vmc, vrc, p, k, n, &xh)), h, k, n);
          });
        }
      });
    }
  });
  return {hs, cs, zs, stats};
}

// Writes dLoss/dxr into dxr and dLoss/dzs into dz (either may be the very tensor xr / zs);
// -> (dc0, dg_ih, db_ih, dg_hh, dg_c, db_c), the absent biases' gradients as empty tensors.
std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor, Tensor> lnlstm_bwd(
    const Tensor& dy, const std::optional<Tensor>& inj_, const Tensor& dcT, const Tensor& w_hh, const Tensor& g_ih,
    const std::optional<Tensor>& b_ih_, const Tensor& g_hh, const Tensor& g_c, const std::optional<Tensor>& b_c_,
    const Tensor& cs, const Tensor& xr, const Tensor& zs, const Tensor& stats, const Tensor& dxr, const Tensor& dz) {
  check(dy, "dy", dy);
  check(xr, "xr", dy);
  check(zs, "zs", dy);
  check(dxr, "dxr", dy);
  check(dz, "dz", dy);
  TORCH_CHECK(dxr.sizes() == xr.sizes() && dz.sizes() == zs.sizes(), "rnnkit native LSTM loop: dxr / dz must have ",
              "the shapes of xr / zs");
  const int64_t T = xr.size(0), B = xr.size(1), G = xr.size(2), H = G / 4;
  Tensor inj = opt_contig(inj_);
  const bool has_inj = inj.defined();
  Tensor gih = g_ih.contiguous(), bih = opt_contig(b_ih_), ghh = g_hh.contiguous(), gc = g_c.contiguous(),
         bc = opt_contig(b_c_);
  Tensor dh = at::empty({B, H}, dy.options());
  Tensor carry = has_inj ? at::zeros({B, H}, dy.options()) : dcT.contiguous().clone();
  // per-row parameter-gradient sums (g_ih | b_ih | g_hh | g_c | b_c), reduced over rows at the end
  const int64_t A = 3 * G + 2 * H;
  Tensor acc_rows = at::zeros({B, A}, dy.options());
  AT_DISPATCH_FLOATING_TYPES(dy.scalar_type(), "rnnkit_lnlstm_bwd", [&] {
    using T_ = scalar_t;
    const LnParams<T_> p = ln_params<T_>(gih, bih, ghh, gc, bc);
    T_* accp = acc_rows.data_ptr<T_>();
    for (int64_t t = T - 1; t >= 0; --t) {
      if (t == T - 1) dh.copy_(dy[t]); else at::addmm_out(dh, dy[t], dz[t + 1], w_hh);
      const T_* dh_base = dh.data_ptr<T_>();
      const T_* x_base = xr.data_ptr<T_>() + t * B * G;
      const T_* z_base = zs.data_ptr<T_>() + t * B * G;
      T_* dx_base = dxr.data_ptr<T_>() + t * B * G;
      T_* dz_base = dz.data_ptr<T_>() + t * B * G;
      const T_* cp_base = cs.data_ptr<T_>() + t * B * H;
      const T_* st_base = stats.data_ptr<T_>() + t * B * 6;
      const T_* inj_base = has_inj ? inj.data_ptr<T_>() + t * B * H : nullptr;
      T_* cr_base = carry.data_ptr<T_>();
      at::parallel_for(0, B, grain(G), [&](int64_t b0, int64_t b1) {
        std::vector<T_> buf(2 * G + H);  // gates | gate pre-activation gradients | dLoss/dLN_c(c)
        T_ *o = buf.data(), *dpo = o + G, *dlc = dpo + G;
        const T_ *i = o + H, *f = o + 2 * H, *g = o + 3 * H;
        const Vec<T_> one(T_(1));
        for (int64_t b = b0; b < b1; ++b) {
          const T_ *x = x_base + b * G, *z = z_base + b * G;
          T_ *dxo = dx_base + b * G, *dzo = dz_base + b * G, *cr = cr_base + b * H;
          const T_ *cp = cp_base + b * H, *c = cp + B * H, *dhr = dh_base + b * H, *s6 = st_base + b * 6;
          T_ *a_gih = accp + b * A, *a_bih = a_gih + G, *a_ghh = a_bih + G, *a_gc = a_ghh + G, *a_bc = a_gc + H;
          ln_gate_row<T_>(x, z, s6, p, H, o);
          const Vec<T_> vmc(s6[4]), vrc(s6[5]);
          // LN_c backward: dlc = dLoss/dLN_c(c) = dh * o * (1 - tl^2); dpre_o = dh * tl * o (1 - o)
          Vec<T_> s1(T_(0)), s2(T_(0));
          for_vec<T_>(H, [&](int64_t k, int64_t n) {
            Vec<T_> xh;
            Vec<T_> vtl = tnh(ln_c_at(c, vmc, vrc, p, k, n, &xh));
            Vec<T_> vo = ld<T_>(o, k, n), vdh = ld(dhr, k, n);
            st(vdh * vtl * vo * (one - vo), dpo, k, n);
            Vec<T_> d = vdh * vo * (one - vtl * vtl);
            st(ld(a_gc, k, n) + d * xh, a_gc, k, n);
            st(ld(a_bc, k, n) + d, a_bc, k, n);
            Vec<T_> dx = d * ld(p.gc, k, n);
            st(dx, dlc, k, n);
            s1 = s1 + live(dx, n);
            s2 = s2 + live(dx * xh, n);
          });
          const Vec<T_> m1(hsum(s1) / T_(H)), m2(hsum(s2) / T_(H));
          // dc = LN_c backward + carried part (+ dc_T injection); gradients of i, f, g
          for_vec<T_>(H, [&](int64_t k, int64_t n) {
            Vec<T_> xh = (ld(c, k, n) - vmc) * vrc;
            Vec<T_> dc = vrc * (ld<T_>(dlc, k, n) - m1 - xh * m2) + ld<T_>(cr, k, n);
            if (inj_base) dc = dc + ld(inj_base + b * H, k, n);
            Vec<T_> vi = ld(i, k, n), vf = ld(f, k, n), vg = ld(g, k, n);
            st(dc * vg * vi * (one - vi), dpo + H, k, n);
            st(dc * ld(cp, k, n) * vf * (one - vf), dpo + 2 * H, k, n);
            st(dc * vi * (one - vg * vg), dpo + 3 * H, k, n);
            st(dc * vf, cr, k, n);
          });
          // LN_hh and LN_ih backward over the 4H row: sums, parameter gradients, then dz and dxr
          const Vec<T_> vmx(s6[0]), vrx(s6[1]), vmz(s6[2]), vrz(s6[3]);
          Vec<T_> t1(T_(0)), t2(T_(0)), u1(T_(0)), u2(T_(0));
          for_vec<T_>(G, [&](int64_t k, int64_t n) {
            Vec<T_> dp = ld<T_>(dpo, k, n), zh = (ld(z, k, n) - vmz) * vrz, xh = (ld(x, k, n) - vmx) * vrx;
            st(ld(a_ghh, k, n) + dp * zh, a_ghh, k, n);
            st(ld(a_gih, k, n) + dp * xh, a_gih, k, n);
            st(ld(a_bih, k, n) + dp, a_bih, k, n);
            Vec<T_> dz = live(dp * ld(p.ghh, k, n), n), dx = live(dp * ld(p.gih, k, n), n);
            t1 = t1 + dz;
            t2 = t2 + dz * zh;
            u1 = u1 + dx;
            u2 = u2 + dx * xh;
          });
          const Vec<T_> n1(hsum(t1) / T_(G)), n2(hsum(t2) / T_(G)), q1(hsum(u1) / T_(G)), q2(hsum(u2) / T_(G));
          for_vec<T_>(G, [&](int64_t k, int64_t n) {
            Vec<T_> dp = ld<T_>(dpo, k, n), zh = (ld(z, k, n) - vmz) * vrz, xh = (ld(x, k, n) - vmx) * vrx;
            st(vrz * (dp * ld(p.ghh, k, n) - n1 - zh * n2), dzo, k, n);
            st(vrx * (dp * ld(p.gih, k, n) - q1 - xh * q2), dxo, k, n);
          });
        }
      });
    }
  });
  Tensor acc = acc_rows.sum(0);
  Tensor none = at::empty({0}, dy.options());
  return {carry,
          acc.narrow(0, 0, G),
          bih.defined() ? acc.narrow(0, G, G) : none,
          acc.narrow(0, 2 * G, G),
          acc.narrow(0, 3 * G, H),
          bc.defined() ? acc.narrow(0, 3 * G + H, H) : none};
}

// ------------------------------------------------------------------ minGRU / minLSTM
// h_t = a_t h_{t-1} + b_t with (a, b) from the projected input xp (B, T, kH), fused with the scan:
//   minGRU  (k=2): z = σ(kz), a = 1 - z, b = z g(kh)
//   minLSTM (k=3): a = σ(kf) / (σ(kf) + σ(ki)), b = (1 - a) g(kh)
// g(x) = x + 0.5 (x >= 0), σ(x) otherwise. Past a sequence's end (t >= lengths[b]) the state
// carries unchanged (a = 1, b = 0). One pass over xp forward, one backward (the coefficients are
// recomputed there from xp, cheaper than storing and re-reading them); parallel over (row, H block).
// Columns per task: whole rows (contiguous streaming through xp) when the batch alone gives every
// thread several rows; otherwise 64-column blocks so a small batch still spreads over threads.
inline int64_t min_block(int64_t B, int64_t H) {
  return B >= 4 * at::get_num_threads() ? H : std::min<int64_t>(H, 64);
}

template <typename T>
struct MinCoef {
  Vec<T> a, b, gk, gp;  // coefficients, g(kh) and g'(kh)
  Vec<T> sf, si;        // minLSTM backward only: σ(-kf), σ(-ki)
};

// minLSTM's a = σ(kf) / (σ(kf) + σ(ki)) = (1 + e^-ki) / (2 + e^-ki + e^-kf), evaluated with every
// exponent shifted by m = max(0, -kf, -ki) so nothing overflows; 3 exp instead of the 2 softplus
// (exp + log1p each) and a sigmoid of the Python path (log1p is the costliest op here).
template <typename T, bool kGrad>
inline MinCoef<T> min_coef(const T* x, int64_t H, bool lstm, int64_t k, int64_t n) {
  const Vec<T> one(T(1)), zero(T(0)), half(T(0.5));
  Vec<T> kh = ld(x + (lstm ? 2 : 1) * H, k, n);
  Vec<T> s = sigm(kh);
  Vec<T> pos = kh >= zero;  // all-ones lanes where kh >= 0
  MinCoef<T> c;
  c.gk = Vec<T>::blendv(s, kh + half, pos);
  c.gp = Vec<T>::blendv(s * (one - s), one, pos);
  if (lstm) {
    Vec<T> nf = ld(x, k, n).neg(), ni = ld(x + H, k, n).neg();
    Vec<T> m = at::vec::maximum(zero, at::vec::maximum(nf, ni));
    Vec<T> e0 = m.neg().exp(), ef = (nf - m).exp(), ei = (ni - m).exp();
    c.a = (e0 + ei) / (e0 + e0 + ei + ef);
    if (kGrad) {
      c.sf = ef / (e0 + ef);
      c.si = ei / (e0 + ei);
    }
  } else {
    c.a = one - sigm(ld(x, k, n));
  }
  c.b = (one - c.a) * c.gk;
  return c;
}

int64_t min_gates(const Tensor& xp, const Tensor& h0) {
  const int64_t k = xp.size(2) / h0.size(1);
  TORCH_CHECK((k == 2 || k == 3) && xp.size(2) == k * h0.size(1), "rnnkit native min scan: xp has ",
              xp.size(2), " features, expected 2H (minGRU) or 3H (minLSTM) with H=", h0.size(1));
  return k;
}

Tensor min_fwd(const Tensor& xp, const Tensor& h0, const std::optional<Tensor>& lengths_) {
  check(xp, "xp", xp);
  const Tensor h0c = h0.contiguous();
  check(h0c, "h0", xp);
  const int64_t B = xp.size(0), T = xp.size(1), H = h0.size(1), K = min_gates(xp, h0);
  const bool lstm = K == 3;
  Tensor lengths = opt_contig(lengths_);
  if (lengths.defined()) lengths = lengths.to(at::kLong).contiguous();
  const int64_t* len = lengths.defined() ? lengths.data_ptr<int64_t>() : nullptr;
  Tensor h = at::empty({B, T, H}, xp.options());
  const int64_t blk = min_block(B, H), nblk = (H + blk - 1) / blk;
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "rnnkit_min_fwd", [&] {
    using T_ = scalar_t;
    const T_* xb = xp.data_ptr<T_>();
    const T_* h0p = h0c.data_ptr<T_>();
    T_* hb = h.data_ptr<T_>();
    at::parallel_for(0, B * nblk, std::max<int64_t>(1, 32768 / std::max<int64_t>(T * blk, 1)),
                     [&](int64_t j0, int64_t j1) {
      for (int64_t j = j0; j < j1; ++j) {
        const int64_t b = j / nblk, c0 = (j % nblk) * blk, cn = std::min(blk, H - c0);
        const int64_t end = len ? std::min(len[b], T) : T;
        const T_* prev = h0p + b * H;
        for (int64_t t = 0; t < T; ++t) {
          T_* out = hb + (b * T + t) * H;
          const T_* x = xb + (b * T + t) * K * H;
          for_vec<T_>(cn, [&](int64_t k, int64_t n) {
            const int64_t kk = c0 + k;
            if (t >= end) { st(ld(prev, kk, n), out, kk, n); return; }
            MinCoef<T_> m = min_coef<T_, false>(x, H, lstm, kk, n);
            st(m.a * ld(prev, kk, n) + m.b, out, kk, n);
          });
          prev = out;
        }
      }
    });
  });
  return h;
}

std::tuple<Tensor, Tensor> min_bwd(const Tensor& dh_, const Tensor& xp, const Tensor& h0, const Tensor& h,
                                   const std::optional<Tensor>& lengths_) {
  const Tensor dh = dh_.contiguous(), h0c = h0.contiguous();
  check(dh, "dh", xp);
  const int64_t B = xp.size(0), T = xp.size(1), H = h0.size(1), K = min_gates(xp, h0);
  const bool lstm = K == 3;
  Tensor lengths = opt_contig(lengths_);
  if (lengths.defined()) lengths = lengths.to(at::kLong).contiguous();
  const int64_t* len = lengths.defined() ? lengths.data_ptr<int64_t>() : nullptr;
  Tensor dxp = at::empty_like(xp), dh0 = at::empty({B, H}, xp.options());
  const int64_t blk = min_block(B, H), nblk = (H + blk - 1) / blk;
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "rnnkit_min_bwd", [&] {
    using T_ = scalar_t;
    const T_ *xb = xp.data_ptr<T_>(), *h0p = h0c.data_ptr<T_>(), *hb = h.data_ptr<T_>(), *gb = dh.data_ptr<T_>();
    T_ *dxb = dxp.data_ptr<T_>(), *dh0p = dh0.data_ptr<T_>();
    at::parallel_for(0, B * nblk, std::max<int64_t>(1, 32768 / std::max<int64_t>(T * blk, 1)),
                     [&](int64_t j0, int64_t j1) {
      std::vector<T_> carry_buf(blk);
      T_* carry = carry_buf.data();
      const Vec<T_> one(T_(1));
      for (int64_t j = j0; j < j1; ++j) {
        const int64_t b = j / nblk, c0 = (j % nblk) * blk, cn = std::min(blk, H - c0);
        const int64_t end = len ? std::min(len[b], T) : T;
        std::fill(carry, carry + cn, T_(0));
        for (int64_t t = T - 1; t >= 0; --t) {
          const T_* g = gb + (b * T + t) * H;
          const T_* x = xb + (b * T + t) * K * H;
          T_* dx = dxb + (b * T + t) * K * H;
          const T_* prev = t > 0 ? hb + (b * T + t - 1) * H : h0p + b * H;
          for_vec<T_>(cn, [&](int64_t k, int64_t n) {
            const int64_t kk = c0 + k;
            Vec<T_> d = ld(g, kk, n) + ld<T_>(carry, k, n);  // dLoss/dh_t
            if (t >= end) {  // carried step: a = 1, b = 0, nothing reaches xp
              st(d, carry, k, n);
              for (int64_t q = 0; q < K; ++q) st(Vec<T_>(T_(0)), dx + q * H, kk, n);
              return;
            }
            MinCoef<T_> m = min_coef<T_, true>(x, H, lstm, kk, n);
            st(d * m.a, carry, k, n);
            Vec<T_> ia = one - m.a;
            Vec<T_> gd = (d * m.gk - d * ld(prev, kk, n)) * m.a * ia;  // (db g - da) a (1 - a)
            st(d * ia * m.gp, dx + (K - 1) * H, kk, n);  // d kh
            if (lstm) {  // a = σ(-d'), d' = sp(-kf) - sp(-ki): d'/dkf = σ(kf) - 1, d'/dki = σ(-ki)
              st(gd * m.sf.neg(), dx, kk, n);
              st(gd * m.si, dx + H, kk, n);
            } else {  // a = 1 - z: dkz = (db g - da) z (1 - z)
              st(gd, dx, kk, n);
            }
          });
        }
        std::copy(carry, carry + cn, dh0p + b * H + c0);
      }
    });
  });
  return {dxp, dh0};
}

}  // namespace

TORCH_LIBRARY(rnnkit_native, m) {
  m.def("lstm_fwd(Tensor xp, Tensor h0, Tensor c0, Tensor w_hh, Tensor? peep) -> (Tensor, Tensor, Tensor, Tensor)");
  m.def("lstm_bwd(Tensor dy, Tensor? inj, Tensor dcT, Tensor w_hh, Tensor? peep, Tensor cs, Tensor tcs, "
        "Tensor gates) -> (Tensor, Tensor, Tensor)");
  m.def("lnlstm_fwd(Tensor xr, Tensor h0, Tensor c0, Tensor w_hh, Tensor g_ih, Tensor? b_ih, Tensor g_hh, "
        "Tensor g_c, Tensor? b_c, float eps_ih, float eps_hh, float eps_c) -> (Tensor, Tensor, Tensor, Tensor)");
  m.def("lnlstm_bwd(Tensor dy, Tensor? inj, Tensor dcT, Tensor w_hh, Tensor g_ih, Tensor? b_ih, Tensor g_hh, "
        "Tensor g_c, Tensor? b_c, Tensor cs, Tensor xr, Tensor zs, Tensor stats, Tensor(a!) dxr, Tensor(b!) dz) "
        "-> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)");
  m.def("min_fwd(Tensor xp, Tensor h0, Tensor? lengths) -> Tensor");
  m.def("min_bwd(Tensor dh, Tensor xp, Tensor h0, Tensor h, Tensor? lengths) -> (Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(rnnkit_native, CPU, m) {
  m.impl("lstm_fwd", &lstm_fwd);
  m.impl("lstm_bwd", &lstm_bwd);
  m.impl("lnlstm_fwd", &lnlstm_fwd);
  m.impl("lnlstm_bwd", &lnlstm_bwd);
  m.impl("min_fwd", &min_fwd);
  m.impl("min_bwd", &min_bwd);
}
