package gateway

import (
	"time"

	"github.com/gofiber/fiber/v2"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/account"
	"github.com/divinewhispers/dw/mail"
	"github.com/divinewhispers/dw/persistence"
)

const refreshCookie = "dw_refresh"

type registerRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	// Captcha is the solution of the challenge a 403 captcha_required carried; the header
	// X-Captcha may carry it instead (for clients that cannot change the body).
	Captcha string `json:"captcha,omitempty"`
	// Language is the new account's (zh-TW or en): registration only; "" = the best match of
	// Accept-Language, or not chosen without one.
	Language string `json:"language,omitempty"`
}

// captchaOf returns the captcha solution of a login or registration: the body's, else the
// X-Captcha header's.
func captchaOf(c *fiber.Ctx, in registerRequest) string {
	if in.Captcha != "" {
		return in.Captcha
	}
	return c.Get("X-Captcha")
}

func (s *Server) register(c *fiber.Ctx) error {
	var in registerRequest
	if err := decode(c, &in, false); err != nil {
		return err
	}
	lang := in.Language
	if lang == "" {
		lang = mail.PreferredLanguage(c.Get(fiber.HeaderAcceptLanguage))
	}
	u, err := s.cfg.Accounts.Register(c.UserContext(), account.RegisterInput{Email: in.Email, Password: in.Password, IP: c.IP(),
		Captcha: captchaOf(c, in), Language: lang})
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(u)
}

func (s *Server) login(c *fiber.Ctx) error {
	var in registerRequest
	if err := decode(c, &in, false); err != nil {
		return err
	}
	t, _, err := s.cfg.Accounts.Login(c.UserContext(), account.LoginInput{Email: in.Email, Password: in.Password, IP: c.IP(), Captcha: captchaOf(c, in)})
	if err != nil {
		return err
	}
	s.setRefreshCookie(c, t)
	return c.JSON(t)
}

func (s *Server) setRefreshCookie(c *fiber.Ctx, t account.Tokens) {
	c.Cookie(&fiber.Cookie{
		Name: refreshCookie, Value: t.RefreshToken, Path: "/api/v1/auth", Expires: t.RefreshUntil,
		HTTPOnly: true, Secure: s.cfg.SecureCookies, SameSite: fiber.CookieSameSiteStrictMode,
	})
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

func refreshTokenOf(c *fiber.Ctx) (string, error) {
	var in refreshRequest
	if err := decode(c, &in, true); err != nil {
		return "", err
	}
	if in.RefreshToken == "" {
		in.RefreshToken = c.Cookies(refreshCookie)
	}
	return in.RefreshToken, nil
}

func (s *Server) refresh(c *fiber.Ctx) error {
	token, err := refreshTokenOf(c)
	if err != nil {
		return err
	}
	if token == "" {
		return dw.Coded(dw.KindUnauthorized, "invalid_refresh_token", "send refresh_token in the body or the dw_refresh cookie")
	}
	t, err := s.cfg.Accounts.Refresh(c.UserContext(), token)
	if err != nil {
		if dw.CodeOf(err) == "refresh_token_reused" {
			c.ClearCookie(refreshCookie)
		}
		return err
	}
	s.setRefreshCookie(c, t)
	return c.JSON(t)
}

func (s *Server) logout(c *fiber.Ctx) error {
	token, err := refreshTokenOf(c)
	if err != nil {
		return err
	}
	if err := s.cfg.Accounts.Logout(c.UserContext(), claimsOf(c).UserID, claimsOf(c).SessionID, token, c.IP()); err != nil {
		return err
	}
	c.Cookie(&fiber.Cookie{Name: refreshCookie, Value: "", Path: "/api/v1/auth", Expires: time.Unix(0, 0),
		HTTPOnly: true, Secure: s.cfg.SecureCookies, SameSite: fiber.CookieSameSiteStrictMode})
	return c.SendStatus(fiber.StatusNoContent)
}

type meResponse struct {
	ID          string `json:"id"`
	Email       string `json:"email"`
	Role        string `json:"role"`
	WalletID    string `json:"wallet_id"`
	Status      string `json:"status"`
	DisplayName string `json:"display_name"`
	Language    string `json:"language"`
}

func meOf(u persistence.User) meResponse {
	return meResponse{ID: u.ID, Email: u.Email, Role: u.Role, WalletID: u.WalletID, Status: u.Status,
		DisplayName: u.DisplayName, Language: u.Language}
}

func (s *Server) me(c *fiber.Ctx) error {
	u, err := s.cfg.Store.UserByID(c.UserContext(), claimsOf(c).UserID)
	if err != nil {
		return err
	}
	return c.JSON(meOf(u))
}

type passwordRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

func (s *Server) changePassword(c *fiber.Ctx) error {
	var in passwordRequest
	if err := decode(c, &in, false); err != nil {
		return err
	}
	if err := s.cfg.Accounts.ChangePassword(c.UserContext(), claimsOf(c).UserID, in.CurrentPassword, in.NewPassword, c.IP()); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

type resetRequestBody struct {
	Email   string `json:"email"`
	Captcha string `json:"captcha,omitempty"`
}

// resetAccepted is the one answer to a reset request, whether or not the email has an account.
type resetAccepted struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

var resetAcceptedBody = resetAccepted{Status: "accepted",
	Message: "if this email belongs to an account, a link to set a new password is on its way to it"}

func (s *Server) resetRequest(c *fiber.Ctx) error {
	var in resetRequestBody
	if err := decode(c, &in, false); err != nil {
		return err
	}
	captcha := in.Captcha
	if captcha == "" {
		captcha = c.Get("X-Captcha")
	}
	err := s.cfg.Accounts.RequestReset(c.UserContext(), account.ResetRequestInput{Email: in.Email, IP: c.IP(),
		Lang: mail.Language(c.Get(fiber.HeaderAcceptLanguage)), Captcha: captcha})
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(resetAcceptedBody)
}

type resetBody struct {
	Token       string `json:"token"`
	NewPassword string `json:"new_password"`
}

func (s *Server) resetPassword(c *fiber.Ctx) error {
	var in resetBody
	if err := decode(c, &in, false); err != nil {
		return err
	}
	if err := s.cfg.Accounts.ResetPassword(c.UserContext(), account.ResetInput{Token: in.Token, NewPassword: in.NewPassword, IP: c.IP()}); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
