// Whole-sequence forward and backward loops on CPU for the GRU (torch's "reset after" form), the
// layer-norm GRU and the Elman RNN (tanh / relu), used by rnnkit/layers/fastgru.py.
//
// Why C++ although torch has GRU and RNN kernels: torch's CPU backward of nn.GRU / nn.RNN is not
// fused; autograd replays ~10 small nodes per step, and at batch 1 that dispatch is ~95% of the
// time (docs/benchmarks.md). Here a step is ONE GEMM plus ONE vectorised pass over the row, in
// both directions, as the LSTM loops of loops.cpp.
//
// Contract (the Python side prepares everything and keeps autograd): torch's gate order (r, z, n);
// all tensors contiguous, one dtype (float or double), CPU. xp (T, B, 3H) holds the input
// projection with b_ih and the r, z parts of b_hh folded in; the n part of b_hh (bn, (H) or
// empty) stays inside r * (U_n h + b_hn). The backward takes the per-step output gradients with
// dh_T folded in (dy) and returns the gradients of the pre-activations; dW_hh and dW_ih come from
// one GEMM over all steps in Python.
#include "common.h"

#include <tuple>

namespace {

using namespace rnnkit_native;
using at::Tensor;

// ------------------------------------------------------------------ GRU (reset after)
// The update h = n + z (h_prev - n) and its gates, backward, at lanes [k, k+n) of one row: from
// dLoss/dh_t (dh) and the saved r, z, n and hn (= U_n h_prev + b_hn, after LN_hh for the layer-norm
// GRU) writes the gradients of the input pre-activations (dx: r, z, n), of the recurrent parts
// (dp: r, z, hn) and the carry dh_t z + dy_{t-1} (dyn: dy_{t-1}'s row, null at t = 0).
template <typename T>
inline void gru_update_bwd(const Vec<T>& vr, const Vec<T>& vz, const Vec<T>& vn, const Vec<T>& vhn, const T* dh,
                           const T* hprev, const T* dyn, T* dx, T* dp, T* cr, int64_t H, int64_t k, int64_t n) {
  const Vec<T> one(T(1));
  Vec<T> vdh = ld(dh, k, n);
  Vec<T> dpn = vdh * (one - vz) * (one - vn * vn);
  Vec<T> dpz = vdh * (ld(hprev, k, n) - vn) * vz * (one - vz);
  Vec<T> dpr = dpn * vhn * vr * (one - vr);
  st(dpr, dx, k, n); st(dpz, dx + H, k, n); st(dpn, dx + 2 * H, k, n);
  st(dpr, dp, k, n); st(dpz, dp + H, k, n); st(dpn * vr, dp + 2 * H, k, n);
  Vec<T> c = vdh * vz;
  st(dyn ? c + ld(dyn, k, n) : c, cr, k, n);
}

//   r = σ(xr + hr), z = σ(xz + hz), n = tanh(xn + r (hn + bn)), h = n + z (h_prev - n)
// with [hr hz hn] = h_prev W_hh^T. Saved per step: r, z, n and hn + bn -> gates (T, B, 4H).
// keep = false (nothing will run the backward: inference): the gates are not written, and an
// empty tensor is returned for them, saving a (T, B, 4H) write.
std::tuple<Tensor, Tensor> gru_fwd(const Tensor& xp, const Tensor& h0, const Tensor& w_hh,
                                   const std::optional<Tensor>& bn_, bool keep) {
  check(xp, "xp", xp);
  const int64_t T = xp.size(0), B = xp.size(1), G = xp.size(2), H = G / 3;
  Tensor bn = opt_contig(bn_);
  Tensor hs = at::empty({T + 1, B, H}, xp.options());
  Tensor gates = at::empty({keep ? T : 0, B, 4 * H}, xp.options());
  Tensor hp = at::empty({B, G}, xp.options());
  hs[0].copy_(h0);
  Tensor wt = w_hh.t();
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "rnnkit_gru_fwd", [&] {
    using T_ = scalar_t;
    const T_* bnp = bn.defined() ? bn.data_ptr<T_>() : nullptr;
    const T_* hp_base = hp.data_ptr<T_>();
    for (int64_t t = 0; t < T; ++t) {
      at::mm_out(hp, hs[t], wt);
      const T_* x_base = xp.data_ptr<T_>() + t * B * G;
      const T_* hprev_base = hs.data_ptr<T_>() + t * B * H;
      T_* h_base = hs.data_ptr<T_>() + (t + 1) * B * H;
      T_* g_base = keep ? gates.data_ptr<T_>() + t * B * 4 * H : nullptr;
      at::parallel_for(0, B, grain(G), [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
          const T_ *x = x_base + b * G, *p = hp_base + b * G, *hprev = hprev_base + b * H;
          T_ *h = h_base + b * H, *g = g_base ? g_base + b * 4 * H : nullptr;
          for_vec<T_>(H, [&](int64_t k, int64_t n) {
            Vec<T_> vr = sigm(ld(x, k, n) + ld(p, k, n));
            Vec<T_> vz = sigm(ld(x + H, k, n) + ld(p + H, k, n));
            Vec<T_> vhn = ld(p + 2 * H, k, n);
            if (bnp) vhn = vhn + ld(bnp, k, n);
            Vec<T_> vn = tnh(ld(x + 2 * H, k, n) + vr * vhn);
            if (g) { st(vr, g, k, n); st(vz, g + H, k, n); st(vn, g + 2 * H, k, n); st(vhn, g + 3 * H, k, n); }
            st(vn + vz * (ld(hprev, k, n) - vn), h, k, n);
          });
        }
      });
    }
  });
  return {hs, gates};
}

// -> (dxp (T, B, 3H) = dLoss/d(xr, xz, xn), dhp (T, B, 3H) = dLoss/d(hr, hz, hn), dh0 (B, H))
std::tuple<Tensor, Tensor, Tensor> gru_bwd(const Tensor& dy, const Tensor& w_hh, const Tensor& hs,
                                           const Tensor& gates) {
  check(dy, "dy", dy);
  check(gates, "gates", dy);
  const int64_t T = dy.size(0), B = dy.size(1), H = dy.size(2), G = 3 * H;
  Tensor dxp = at::empty({T, B, G}, dy.options()), dhp = at::empty({T, B, G}, dy.options());
  Tensor dh = at::empty({B, H}, dy.options()), carry = at::empty({B, H}, dy.options());
  AT_DISPATCH_FLOATING_TYPES(dy.scalar_type(), "rnnkit_gru_bwd", [&] {
    using T_ = scalar_t;
    const T_* dh_base = dh.data_ptr<T_>();
    T_* cr_base = carry.data_ptr<T_>();
    for (int64_t t = T - 1; t >= 0; --t) {
      // dh_t = dy_t + dh_{t+1} z_{t+1} (the carry, written by step t+1's pass) + dhp_{t+1} W_hh
      if (t == T - 1) dh.copy_(dy[t]); else at::addmm_out(dh, carry, dhp[t + 1], w_hh);
      const T_* g_base = gates.data_ptr<T_>() + t * B * 4 * H;
      const T_* hprev_base = hs.data_ptr<T_>() + t * B * H;
      const T_* dyn_base = t > 0 ? dy.data_ptr<T_>() + (t - 1) * B * H : nullptr;
      T_* dx_base = dxp.data_ptr<T_>() + t * B * G;
      T_* dp_base = dhp.data_ptr<T_>() + t * B * G;
      at::parallel_for(0, B, grain(G), [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
          const T_ *g = g_base + b * 4 * H, *hprev = hprev_base + b * H, *dhr = dh_base + b * H;
          T_ *dx = dx_base + b * G, *dp = dp_base + b * G, *cr = cr_base + b * H;
          const T_* dyn = dyn_base ? dyn_base + b * H : nullptr;
          for_vec<T_>(H, [&](int64_t k, int64_t n) {
            gru_update_bwd<T_>(ld(g, k, n), ld(g + H, k, n), ld(g + 2 * H, k, n), ld(g + 3 * H, k, n), dhr, hprev,
                               dyn, dx, dp, cr, H, k, n);
          });
        }
      });
    }
  });
  Tensor dh0 = T > 0 ? at::addmm(carry, dhp[0], w_hh) : dy.new_zeros({B, H});
  return {dxp, dhp, dh0};
}

// ------------------------------------------------------------------ layer-norm GRU
// [hr hz hn] = LN_hh(h_prev W_hh^T) (gain g_hh, no bias), then the GRU update above with bn = 0;
// xp = LN_ih(x W_ih^T) comes from torch (no recurrence). Saved: zs = h_prev W_hh^T (T, B, 3H), the
// row statistics (T, B, 2) = mean, 1/std and the gates (T, B, 3H) = r, z, n; hn is recomputed.
std::tuple<Tensor, Tensor, Tensor, Tensor> lngru_fwd(const Tensor& xp, const Tensor& h0, const Tensor& w_hh,
                                                     const Tensor& g_hh, double eps) {
  check(xp, "xp", xp);
  const int64_t T = xp.size(0), B = xp.size(1), G = xp.size(2), H = G / 3;
  Tensor ghh = g_hh.contiguous();
  Tensor hs = at::empty({T + 1, B, H}, xp.options()), zs = at::empty({T, B, G}, xp.options());
  Tensor stats = at::empty({T, B, 2}, xp.options()), gates = at::empty({T, B, G}, xp.options());
  hs[0].copy_(h0);
  Tensor wt = w_hh.t();
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "rnnkit_lngru_fwd", [&] {
    using T_ = scalar_t;
    const T_* gp = ghh.data_ptr<T_>();
    for (int64_t t = 0; t < T; ++t) {
      Tensor zt = zs[t];
      at::mm_out(zt, hs[t], wt);
      const T_* z_base = zt.data_ptr<T_>();
      const T_* x_base = xp.data_ptr<T_>() + t * B * G;
      const T_* hprev_base = hs.data_ptr<T_>() + t * B * H;
      T_* h_base = hs.data_ptr<T_>() + (t + 1) * B * H;
      T_* g_base = gates.data_ptr<T_>() + t * B * G;
      T_* st_base = stats.data_ptr<T_>() + t * B * 2;
      at::parallel_for(0, B, grain(G), [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
          const T_ *x = x_base + b * G, *z = z_base + b * G, *hprev = hprev_base + b * H;
          T_ *h = h_base + b * H, *g = g_base + b * G, *s2 = st_base + b * 2;
          std::tie(s2[0], s2[1]) = moments(z, G, eps);
          const Vec<T_> vm(s2[0]), vrs(s2[1]);
          auto ln = [&](int64_t j, int64_t k, int64_t n) {  // LN_hh of part j at lanes [k, k+n)
            return (ld(z + j * H, k, n) - vm) * vrs * ld(gp + j * H, k, n);
          };
          for_vec<T_>(H, [&](int64_t k, int64_t n) {
            Vec<T_> vr = sigm(ld(x, k, n) + ln(0, k, n));
            Vec<T_> vz = sigm(ld(x + H, k, n) + ln(1, k, n));
            Vec<T_> vn = tnh(ld(x + 2 * H, k, n) + vr * ln(2, k, n));
            st(vr, g, k, n); st(vz, g + H, k, n); st(vn, g + 2 * H, k, n);
            st(vn + vz * (ld(hprev, k, n) - vn), h, k, n);
          });
        }
      });
    }
  });
  return {hs, zs, stats, gates};
}

// -> (dxp (T, B, 3H), dzs (T, B, 3H) = dLoss/d(h W_hh^T), dh0 (B, H), dg_hh (3H))
std::tuple<Tensor, Tensor, Tensor, Tensor> lngru_bwd(const Tensor& dy, const Tensor& w_hh, const Tensor& g_hh,
                                                     const Tensor& hs, const Tensor& zs, const Tensor& stats,
                                                     const Tensor& gates) {
  check(dy, "dy", dy);
  check(zs, "zs", dy);
  check(gates, "gates", dy);
  const int64_t T = dy.size(0), B = dy.size(1), H = dy.size(2), G = 3 * H;
  Tensor ghh = g_hh.contiguous();
  Tensor dxp = at::empty({T, B, G}, dy.options()), dzs = at::empty({T, B, G}, dy.options());
  Tensor dh = at::empty({B, H}, dy.options()), carry = at::empty({B, H}, dy.options());
  Tensor acc_rows = at::zeros({B, G}, dy.options());  // per-row sums of dLoss/dg_hh
  AT_DISPATCH_FLOATING_TYPES(dy.scalar_type(), "rnnkit_lngru_bwd", [&] {
    using T_ = scalar_t;
    const T_* gp = ghh.data_ptr<T_>();
    const T_* dh_base = dh.data_ptr<T_>();
    T_* cr_base = carry.data_ptr<T_>();
    T_* accp = acc_rows.data_ptr<T_>();
    for (int64_t t = T - 1; t >= 0; --t) {
      if (t == T - 1) dh.copy_(dy[t]); else at::addmm_out(dh, carry, dzs[t + 1], w_hh);
      const T_* g_base = gates.data_ptr<T_>() + t * B * G;
      const T_* z_base = zs.data_ptr<T_>() + t * B * G;
      const T_* st_base = stats.data_ptr<T_>() + t * B * 2;
      const T_* hprev_base = hs.data_ptr<T_>() + t * B * H;
      const T_* dyn_base = t > 0 ? dy.data_ptr<T_>() + (t - 1) * B * H : nullptr;
      T_* dx_base = dxp.data_ptr<T_>() + t * B * G;
      T_* dz_base = dzs.data_ptr<T_>() + t * B * G;
      at::parallel_for(0, B, grain(G), [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
          const T_ *g = g_base + b * G, *z = z_base + b * G, *hprev = hprev_base + b * H, *dhr = dh_base + b * H;
          T_ *dx = dx_base + b * G, *dz = dz_base + b * G, *cr = cr_base + b * H, *acc = accp + b * G;
          const T_* dyn = dyn_base ? dyn_base + b * H : nullptr;
          const Vec<T_> vm(st_base[b * 2]), vrs(st_base[b * 2 + 1]);
          // gate backward; dLoss/dLN_hh output (dx of r, z; dpn * r for n) goes to dz for now
          for_vec<T_>(H, [&](int64_t k, int64_t n) {
            Vec<T_> vhn = (ld(z + 2 * H, k, n) - vm) * vrs * ld(gp + 2 * H, k, n);
            gru_update_bwd<T_>(ld(g, k, n), ld(g + H, k, n), ld(g + 2 * H, k, n), vhn, dhr, hprev, dyn, dx, dz, cr, H,
                               k, n);
          });
          // LN_hh backward over the 3H row, in place on dz: gain gradient, then the input gradient
          Vec<T_> s1(T_(0)), s2(T_(0));
          for_vec<T_>(G, [&](int64_t k, int64_t n) {
            Vec<T_> d = ld<T_>(dz, k, n), zh = (ld(z, k, n) - vm) * vrs;
            st(ld<T_>(acc, k, n) + d * zh, acc, k, n);
            Vec<T_> dg = live(d * ld(gp, k, n), n);
            s1 = s1 + dg;
            s2 = s2 + dg * zh;
          });
          const Vec<T_> m1(hsum(s1) / T_(G)), m2(hsum(s2) / T_(G));
          for_vec<T_>(G, [&](int64_t k, int64_t n) {
            Vec<T_> zh = (ld(z, k, n) - vm) * vrs;
            st(vrs * (ld<T_>(dz, k, n) * ld(gp, k, n) - m1 - zh * m2), dz, k, n);
          });
        }
      });
    }
  });
  Tensor dh0 = T > 0 ? at::addmm(carry, dzs[0], w_hh) : dy.new_zeros({B, H});
  return {dxp, dzs, dh0, acc_rows.sum(0)};
}

// ------------------------------------------------------------------ Elman RNN
// h_t = act(xp_t + h_{t-1} W_hh^T), act = tanh | relu (xp holds both biases). Saved: hs only
// (act'(pre) is a function of h: 1 - h^2 for tanh, [h > 0] for relu).
Tensor rnn_fwd(const Tensor& xp, const Tensor& h0, const Tensor& w_hh, bool relu) {
  check(xp, "xp", xp);
  const int64_t T = xp.size(0), B = xp.size(1), H = xp.size(2);
  Tensor hs = at::empty({T + 1, B, H}, xp.options());
  hs[0].copy_(h0);
  Tensor wt = w_hh.t();
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "rnnkit_rnn_fwd", [&] {
    using T_ = scalar_t;
    for (int64_t t = 0; t < T; ++t) {
      Tensor ht = hs[t + 1];
      at::addmm_out(ht, xp[t], hs[t], wt);
      T_* h = ht.data_ptr<T_>();
      at::parallel_for(0, B * H, 16384, [&](int64_t j0, int64_t j1) {
        const Vec<T_> zero(T_(0));
        for_vec<T_>(j1 - j0, [&](int64_t k, int64_t n) {
          Vec<T_> v = ld(h + j0, k, n);
          st(relu ? at::vec::maximum(v, zero) : tnh(v), h + j0, k, n);
        });
      });
    }
  });
  return hs;
}

// -> (dpre (T, B, H) = dLoss/dxp, dh0 (B, H))
std::tuple<Tensor, Tensor> rnn_bwd(const Tensor& dy, const Tensor& w_hh, const Tensor& hs, bool relu) {
  check(dy, "dy", dy);
  check(hs, "hs", dy);
  const int64_t T = dy.size(0), B = dy.size(1), H = dy.size(2);
  Tensor dpre = at::empty({T, B, H}, dy.options());
  AT_DISPATCH_FLOATING_TYPES(dy.scalar_type(), "rnnkit_rnn_bwd", [&] {
    using T_ = scalar_t;
    for (int64_t t = T - 1; t >= 0; --t) {
      Tensor dt = dpre[t];
      if (t == T - 1) dt.copy_(dy[t]); else at::addmm_out(dt, dy[t], dpre[t + 1], w_hh);
      T_* d = dt.data_ptr<T_>();
      const T_* h = hs.data_ptr<T_>() + (t + 1) * B * H;
      at::parallel_for(0, B * H, 16384, [&](int64_t j0, int64_t j1) {
        const Vec<T_> one(T_(1)), zero(T_(0));
        for_vec<T_>(j1 - j0, [&](int64_t k, int64_t n) {
          Vec<T_> vh = ld(h + j0, k, n), vd = ld(d + j0, k, n);
          st(relu ? Vec<T_>::blendv(zero, vd, vh > zero) : vd * (one - vh * vh), d + j0, k, n);
        });
      });
    }
  });
  Tensor dh0 = T > 0 ? at::mm(dpre[0], w_hh) : dy.new_zeros({B, H});
  return {dpre, dh0};
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(rnnkit_native, m) {
  m.def("gru_fwd(Tensor xp, Tensor h0, Tensor w_hh, Tensor? bn, bool keep) -> (Tensor, Tensor)");
  m.def("gru_bwd(Tensor dy, Tensor w_hh, Tensor hs, Tensor gates) -> (Tensor, Tensor, Tensor)");
  m.def("lngru_fwd(Tensor xp, Tensor h0, Tensor w_hh, Tensor g_hh, float eps) -> (Tensor, Tensor, Tensor, Tensor)");
  m.def("lngru_bwd(Tensor dy, Tensor w_hh, Tensor g_hh, Tensor hs, Tensor zs, Tensor stats, Tensor gates) "
        "-> (Tensor, Tensor, Tensor, Tensor)");
  m.def("rnn_fwd(Tensor xp, Tensor h0, Tensor w_hh, bool relu) -> Tensor");
  m.def("rnn_bwd(Tensor dy, Tensor w_hh, Tensor hs, bool relu) -> (Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(rnnkit_native, CPU, m) {
  m.impl("gru_fwd", &gru_fwd);
  m.impl("gru_bwd", &gru_bwd);
  m.impl("lngru_fwd", &lngru_fwd);
  m.impl("lngru_bwd", &lngru_bwd);
  m.impl("rnn_fwd", &rnn_fwd);
  m.impl("rnn_bwd", &rnn_bwd);
}
