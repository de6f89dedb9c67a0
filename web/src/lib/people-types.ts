// Types of API routes built in parallel with these pages (issue 12: profile, account deletion,
// payments), written by hand to their contract until web/openapi.json carries them; the lead
// regenerates api-types.ts at merge, and these can then become aliases of the generated ones.

/** The fields PATCH /api/v1/me adds to Me. */
export interface Profile {
  display_name?: string;
  language?: string; // "zh-TW" or "en"
}

export interface ProfilePatch {
  display_name?: string;
  language?: string;
}

/** One package of points a person can buy: price in the currency's major unit, price_minor in its minor unit. */
export interface PaymentPackage {
  id: string;
  points: number;
  currency: string;
  price: number | string;
  price_minor?: number;
}

export interface PaymentPackages {
  items: PaymentPackage[];
  providers?: string[];
}

export type PaymentStatus = 'pending' | 'succeeded' | 'failed' | 'refunded' | string;

export interface Payment {
  id: string;
  status: PaymentStatus;
  provider?: string;
  package?: string;
  points: number;
  currency: string;
  price: number | string;
  created_at?: string;
  updated_at?: string;
}

/** The answer of POST /api/v1/payments/checkout: where to send the browser. */
export interface CheckoutStarted {
  payment: Payment;
  redirect_url: string;
  method: 'GET' | 'POST';
  fields?: Record<string, string>;
}
